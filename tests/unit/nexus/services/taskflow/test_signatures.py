"""Webhook signature checks, proven on the vendors' documented vectors and fuzzed with hypothesis."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oblivion_nexus.services.taskflow.signatures import (
    SignatureError,
    sign_clickup_body,
    sign_slack_body,
    verify_clickup_signature,
    verify_slack_signature,
)

SlackVector = dict[str, Any]


@pytest.fixture
def slack_vector(fixture_json: Callable[[str], Any]) -> SlackVector:
    vector: SlackVector = fixture_json("slack/signing/docs_worked_example.json")
    return vector


@pytest.fixture
def clickup_vector(fixture_json: Callable[[str], Any]) -> dict[str, Any]:
    vector: dict[str, Any] = fixture_json("clickup/webhooks/signature_docs_example.json")
    return vector


def _slack_args(vector: SlackVector, **overrides: Any) -> dict[str, Any]:
    args = {
        "raw_body": vector["raw_body"].encode(),
        "timestamp_header": vector["headers"]["X-Slack-Request-Timestamp"],
        "signature_header": vector["headers"]["X-Slack-Signature"],
        "secret": vector["signing_secret"],
        "now": float(vector["headers"]["X-Slack-Request-Timestamp"]) + 10,
    }
    args.update(overrides)
    return args


def test_slack_docs_worked_example_is_accepted(slack_vector: SlackVector) -> None:
    verify_slack_signature(**_slack_args(slack_vector))


def test_slack_signature_is_recomputed_exactly_as_documented(slack_vector: SlackVector) -> None:
    signature = sign_slack_body(
        slack_vector["raw_body"].encode(),
        slack_vector["headers"]["X-Slack-Request-Timestamp"],
        slack_vector["signing_secret"],
    )
    assert signature == "v0=" + slack_vector["expected_hex_digest"]


def test_slack_signature_in_upper_case_hex_is_accepted(slack_vector: SlackVector) -> None:
    upper = "v0=" + slack_vector["expected_hex_digest"].upper()
    verify_slack_signature(**_slack_args(slack_vector, signature_header=upper))


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"now": 1531420618 + 301}, "stale"),
        ({"now": 1531420618 - 301}, "future"),
        ({"timestamp_header": "1531420618.5"}, "bad_timestamp"),
        ({"timestamp_header": "-1531420618"}, "bad_timestamp"),
        ({"timestamp_header": "soon"}, "bad_timestamp"),
        ({"timestamp_header": None}, "missing"),
        ({"signature_header": None}, "missing"),
        (
            {"signature_header": "v1=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"},
            "malformed",
        ),
        (
            {"signature_header": "a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"},
            "malformed",
        ),
        ({"signature_header": "v0=zz14d57b"}, "malformed"),
        ({"secret": "another-secret"}, "mismatch"),
        ({"secret": ""}, "missing"),
        ({"raw_body": b"token=tampered"}, "mismatch"),
    ],
)
def test_slack_request_is_refused_with_a_reason(
    slack_vector: SlackVector, overrides: dict[str, Any], reason: str
) -> None:
    with pytest.raises(SignatureError) as caught:
        verify_slack_signature(**_slack_args(slack_vector, **overrides))
    assert caught.value.reason == reason
    assert slack_vector["signing_secret"] not in str(caught.value) + repr(caught.value)


def test_slack_timestamp_at_the_edge_of_the_window_is_accepted(slack_vector: SlackVector) -> None:
    verify_slack_signature(**_slack_args(slack_vector, now=1531420618 + 300))
    verify_slack_signature(**_slack_args(slack_vector, now=1531420618 - 300))


def test_clickup_docs_example_is_accepted(clickup_vector: dict[str, Any]) -> None:
    verify_clickup_signature(
        clickup_vector["raw_body"].encode(),
        clickup_vector["headers"]["X-Signature"],
        clickup_vector["webhook_secret"],
    )


def test_clickup_signature_is_case_insensitive(clickup_vector: dict[str, Any]) -> None:
    header = clickup_vector["headers"]["X-Signature"].upper()
    verify_clickup_signature(clickup_vector["raw_body"].encode(), header, clickup_vector["webhook_secret"])


def test_clickup_docs_truncated_header_is_refused_as_malformed(clickup_vector: dict[str, Any]) -> None:
    with pytest.raises(SignatureError) as caught:
        verify_clickup_signature(
            clickup_vector["raw_body"].encode(),
            clickup_vector["docs_displayed_header_value"],
            clickup_vector["webhook_secret"],
        )
    assert caught.value.reason == "malformed"


def test_clickup_body_reserialised_with_spaces_is_refused(clickup_vector: dict[str, Any]) -> None:
    spaced = clickup_vector["raw_body"].replace(",", ", ").encode()
    with pytest.raises(SignatureError) as caught:
        verify_clickup_signature(
            spaced, clickup_vector["headers"]["X-Signature"], clickup_vector["webhook_secret"]
        )
    assert caught.value.reason == "mismatch"


@pytest.mark.parametrize(("header", "reason"), [(None, "missing"), ("", "missing"), ("  ", "missing")])
def test_clickup_request_without_signature_is_refused(header: str | None, reason: str) -> None:
    with pytest.raises(SignatureError) as caught:
        verify_clickup_signature(b"{}", header, "secret")
    assert caught.value.reason == reason


def test_clickup_refusal_never_echoes_the_secret_or_the_expected_digest() -> None:
    secret = "wh-secret-value-123"
    expected = hmac.new(secret.encode(), b"{}", hashlib.sha256).hexdigest()
    with pytest.raises(SignatureError) as caught:
        verify_clickup_signature(b"{}", "0" * 64, secret)
    text = str(caught.value) + repr(caught.value)
    assert secret not in text
    assert expected not in text


@settings(deadline=None)  # a loaded CI machine must not turn slowness into a failure
@given(
    body=st.binary(max_size=512),
    header=st.one_of(st.none(), st.text(max_size=80)),
    secret=st.text(max_size=40),
)
def test_clickup_check_only_ever_accepts_or_raises_signature_error(
    body: bytes, header: str | None, secret: str
) -> None:
    try:
        verify_clickup_signature(body, header, secret)
    except SignatureError:
        return
    assert header is not None
    assert header.strip().lower() == hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@settings(deadline=None)  # a loaded CI machine must not turn slowness into a failure
@given(
    body=st.binary(max_size=512),
    timestamp=st.one_of(st.none(), st.text(max_size=20), st.integers(-(10**15), 10**15).map(str)),
    signature=st.one_of(
        st.none(), st.text(max_size=80), st.binary(min_size=32, max_size=32).map(lambda b: "v0=" + b.hex())
    ),
    now=st.floats(min_value=0, max_value=4e9),
)
def test_slack_check_only_ever_accepts_or_raises_signature_error(
    body: bytes, timestamp: str | None, signature: str | None, now: float
) -> None:
    try:
        verify_slack_signature(body, timestamp, signature, "secret", now)
    except SignatureError:
        return
    assert timestamp is not None
    assert signature is not None
    assert abs(int(timestamp) - now) <= 300


@settings(deadline=None)  # a loaded CI machine must not turn slowness into a failure
@given(body=st.binary(max_size=2048), secret=st.text(min_size=1, max_size=64), skew=st.integers(-300, 300))
def test_any_body_signed_like_slack_within_the_window_is_accepted(
    body: bytes, secret: str, skew: int
) -> None:
    timestamp = "1700000000"
    verify_slack_signature(
        body, timestamp, sign_slack_body(body, timestamp, secret), secret, 1700000000 + skew
    )


@settings(deadline=None)  # a loaded CI machine must not turn slowness into a failure
@given(body=st.binary(max_size=2048), secret=st.text(min_size=1, max_size=64))
def test_any_body_signed_like_clickup_is_accepted(body: bytes, secret: str) -> None:
    verify_clickup_signature(body, sign_clickup_body(body, secret), secret)
