"""Proof that an inbound webhook really comes from ClickUp or Slack.

Both vendors sign the raw request bytes with HMAC-SHA256 under a shared secret. The checks here run
before a body is parsed or queued, compare in constant time, and explain a refusal with a reason a
log line can carry — never with the secret or the expected digest.
"""

from __future__ import annotations

import hashlib
import hmac
import logging

from oblivion_nexus.errors import ServiceError

logger = logging.getLogger(__name__)

#: Slack documents a five-minute replay window around ``X-Slack-Request-Timestamp``.
SLACK_SIGNATURE_WINDOW_SECONDS = 300

_SHA256_HEX_LENGTH = 64
_HEX_DIGITS = frozenset("0123456789abcdef")


class SignatureError(ServiceError):
    """A webhook signature is missing, malformed, stale or does not match.

    ``reason`` is a short stable code (``missing``, ``malformed``, ``mismatch``, ``stale``,
    ``future``, ``bad_timestamp``) suitable for metrics and logs. The sender is answered 401 with
    the reason only; what exactly did not match (``explanation``) is for the log.
    """

    status = 401

    def __init__(self, vendor: str, reason: str, explanation: str) -> None:
        super().__init__(
            f"{vendor} signature refused ({reason}): {explanation}", detail=f"signature refused ({reason})"
        )
        self.vendor = vendor
        self.reason = reason
        self.explanation = explanation

    def __repr__(self) -> str:
        return f"SignatureError(vendor={self.vendor!r}, reason={self.reason!r})"


def _hmac_sha256_hex(secret: str | bytes, message: bytes) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _normalised_hex(vendor: str, value: str) -> str:
    candidate = value.strip().lower()
    if len(candidate) != _SHA256_HEX_LENGTH or not _HEX_DIGITS.issuperset(candidate):
        raise SignatureError(vendor, "malformed", "signature is not 64 hexadecimal characters")
    return candidate


def sign_clickup_body(raw_body: bytes, secret: str | bytes) -> str:
    """The ``X-Signature`` ClickUp sends with ``raw_body`` (lowercase hex HMAC-SHA256)."""
    return _hmac_sha256_hex(secret, raw_body)


def verify_clickup_signature(raw_body: bytes, header: str | None, secret: str | bytes) -> None:
    """Accept ``raw_body`` only if ``header`` is its HMAC-SHA256 under the webhook's ``secret``.

    ClickUp has no timestamp, so there is no replay window; replays are caught by de-duplication.
    Hex case does not matter. Raises :class:`SignatureError`.
    """
    if not secret:
        raise SignatureError("clickup", "missing", "no webhook secret is configured")
    if header is None or not header.strip():
        raise SignatureError("clickup", "missing", "X-Signature header is absent")
    given = _normalised_hex("clickup", header)
    if not hmac.compare_digest(given, sign_clickup_body(raw_body, secret)):
        raise SignatureError("clickup", "mismatch", "X-Signature does not match the body")


def sign_slack_body(raw_body: bytes, timestamp: str, secret: str | bytes) -> str:
    """The ``X-Slack-Signature`` Slack sends: ``v0=`` + hex HMAC-SHA256 of ``v0:{ts}:{body}``."""
    return "v0=" + _hmac_sha256_hex(secret, b"v0:" + timestamp.encode() + b":" + raw_body)


def verify_slack_signature(
    raw_body: bytes,
    timestamp_header: str | None,
    signature_header: str | None,
    secret: str | bytes,
    now: float,
    window: int = SLACK_SIGNATURE_WINDOW_SECONDS,
) -> None:
    """Accept a Slack delivery only if it is signed with ``secret`` and its timestamp is fresh.

    ``now`` is the receiver's clock in unix seconds; a timestamp more than ``window`` seconds away in
    either direction is refused (a replay guard). Raises :class:`SignatureError`.
    """
    if not secret:
        raise SignatureError("slack", "missing", "no signing secret is configured")
    if timestamp_header is None or not timestamp_header.strip():
        raise SignatureError("slack", "missing", "X-Slack-Request-Timestamp header is absent")
    if signature_header is None or not signature_header.strip():
        raise SignatureError("slack", "missing", "X-Slack-Signature header is absent")
    ts_text = timestamp_header.strip()
    if not ts_text.isascii() or not ts_text.isdigit() or len(ts_text) > 12:
        raise SignatureError("slack", "bad_timestamp", "X-Slack-Request-Timestamp is not unix seconds")
    timestamp = int(ts_text)
    if timestamp < now - window:
        raise SignatureError("slack", "stale", f"request timestamp is more than {window} s old")
    if timestamp > now + window:
        raise SignatureError("slack", "future", f"request timestamp is more than {window} s ahead")
    version, sep, digest = signature_header.strip().partition("=")
    if not sep or version != "v0":
        raise SignatureError("slack", "malformed", "X-Slack-Signature is not of the form v0=<hex>")
    given = _normalised_hex("slack", digest)
    expected = sign_slack_body(raw_body, ts_text, secret).removeprefix("v0=")
    if not hmac.compare_digest(given, expected):
        raise SignatureError("slack", "mismatch", "X-Slack-Signature does not match the body")
