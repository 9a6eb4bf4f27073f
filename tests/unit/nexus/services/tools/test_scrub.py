"""No credential value survives in what the Tool Gateway passes on, in any of its wire forms."""

from __future__ import annotations

import base64
import re
from urllib.parse import quote, quote_plus

import pytest

from oblivion_nexus.services.tools.scrub import REDACTED, Scrubber, secret_forms

TOKEN = "ghp_Zq8+/x9Tok3n=value&more"


@pytest.mark.parametrize(
    "leak",
    [
        TOKEN,
        quote(TOKEN, safe=""),
        quote_plus(TOKEN),
        base64.b64encode(TOKEN.encode()).decode(),
        base64.urlsafe_b64encode(TOKEN.encode()).decode(),
        base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode(),
        base64.b64encode(f"ab:{TOKEN}".encode()).decode(),
        base64.b64encode(f"a:{TOKEN}:tail".encode()).decode(),
    ],
)
def test_every_wire_form_of_the_value_is_removed(leak: str) -> None:
    scrubbed = Scrubber([TOKEN]).text(f"upstream said: Authorization failed for {leak} (sorry)")
    assert REDACTED in scrubbed
    assert leak not in scrubbed
    # Whatever remains of a longer base64 text cannot be decoded back to the value, at any alignment.
    for run in re.findall(r"[A-Za-z0-9+/_=-]{4,}", scrubbed):
        for shift in range(4):
            chunk = run[shift:].rstrip("=")
            chunk = chunk[: len(chunk) // 4 * 4]
            for alphabet in (b"+/", b"-_"):
                decoded = base64.b64decode(chunk.encode(), altchars=alphabet, validate=False)
                assert TOKEN.encode() not in decoded


def test_nested_results_are_scrubbed_in_keys_and_values_and_other_types_kept() -> None:
    url = f"https://x/?t={quote(TOKEN, safe='')}"
    result = {"message": f"bad token {TOKEN}", "items": [{"url": url}, 3, None], TOKEN: True, "ok": False}
    scrubbed = Scrubber([TOKEN]).value(result)
    assert scrubbed == {
        "message": f"bad token {REDACTED}",
        "items": [{"url": f"https://x/?t={REDACTED}"}, 3, None],
        REDACTED: True,
        "ok": False,
    }
    assert result["message"].endswith(TOKEN), "the original is not modified"


def test_short_values_are_not_scrubbed_out_of_ordinary_text() -> None:
    assert secret_forms("abc") == set()
    assert Scrubber(["abc"]).text("abcdef") == "abcdef"


def test_text_without_the_value_is_unchanged() -> None:
    text = "nothing to see: ghp_other_token_value"
    assert Scrubber([TOKEN]).text(text) == text
    assert Scrubber([]).value({"a": text}) == {"a": text}


@pytest.mark.parametrize("prefix", ["", "u", "us", "use"])
@pytest.mark.parametrize("suffix", ["", "!", "?Z", ":tail", "\xff\xfe"])
def test_the_value_inside_longer_base64_is_found_at_every_alignment_and_neighbour(
    prefix: str, suffix: str
) -> None:
    encoded = base64.b64encode(f"{prefix}{TOKEN}{suffix}".encode()).decode()
    scrubbed = Scrubber([TOKEN]).text(encoded)
    assert REDACTED in scrubbed, encoded
