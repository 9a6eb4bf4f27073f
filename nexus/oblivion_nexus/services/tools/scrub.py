"""Remove credential values from everything an upstream sends back, before anyone else sees it.

An API may echo a token in an error message, a redirect URL, or a Basic-auth header it reflects; so
the executor scrubs every string of a result or error of the raw value and of the forms it takes on
the wire: URL-encoded (both `quote` and `quote_plus`), and base64 (standard and URL-safe) — including
the value inside a longer base64 text such as `user:token`, where its encoding depends on where it
falls in a 3-byte group, so each of the three alignments' stable middle is searched for.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

REDACTED = "[REDACTED]"
# Shorter values would match ordinary words and numbers; credentials are never this short.
MIN_SECRET_LENGTH = 6


def _base64_cores(secret: bytes) -> set[str]:
    """The base64 text the value encodes to wherever it sits in a longer encoded text."""
    cores: set[str] = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + secret).decode()
        # A base64 character is 6 bits: keep those whose bits all come from the value, dropping the
        # ones that mix in the bytes before it (first) or after it (last).
        start = -(-offset * 8 // 6)  # ceil
        stable_end = (offset + len(secret)) * 8 // 6
        core = encoded[start:stable_end]
        if len(core) >= MIN_SECRET_LENGTH:
            cores.add(core)
            cores.add(core.replace("+", "-").replace("/", "_"))
    return cores


def secret_forms(secret: str) -> set[str]:
    """Every text form of one value that scrubbing removes."""
    if len(secret) < MIN_SECRET_LENGTH:
        return set()
    forms = {secret, quote(secret, safe=""), quote_plus(secret)}
    forms |= _base64_cores(secret.encode())
    return {f for f in forms if len(f) >= MIN_SECRET_LENGTH}


class Scrubber:
    """Built once per call from the credential's values; applied to every string that leaves."""

    def __init__(self, secrets: Iterable[str]) -> None:
        forms = set().union(*(secret_forms(s) for s in secrets)) if secrets else set()
        # Longest first, so a form containing another is removed whole.
        ordered = sorted(forms, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(f) for f in ordered)) if ordered else None

    def text(self, value: str) -> str:
        return self._pattern.sub(REDACTED, value) if self._pattern else value

    def value(self, value: Any) -> Any:
        """A copy of a JSON-like value (dicts, lists, strings, numbers) with every form removed."""
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(str(k)): self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        return value
