"""Slack Events API deliveries, read from the documented shapes and fuzzed."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oblivion_nexus.integrations.errors import MalformedPayload
from oblivion_nexus.integrations.slack import SlackMessage
from oblivion_nexus.integrations.slack_events import (
    SlackAppRateLimited,
    SlackEventCallback,
    SlackRetry,
    SlackUrlVerification,
    parse_slack_payload,
    slack_retry,
)

EVENT_FIXTURES = [
    "app_mention",
    "channel_created",
    "event_wrapper_reference",
    "message_bot_message",
    "message_changed",
    "message_from_bot_user",
    "message_replied",
    "message_thread_reply",
]


def _callback(fixture_bytes: Callable[[str], bytes], name: str) -> SlackEventCallback:
    payload = parse_slack_payload(fixture_bytes(f"slack/events/{name}.json"))
    assert isinstance(payload, SlackEventCallback)
    return payload


def test_url_verification_gives_the_challenge(fixture_bytes: Callable[[str], bytes]) -> None:
    payload = parse_slack_payload(fixture_bytes("slack/events/url_verification.json"))

    assert isinstance(payload, SlackUrlVerification)
    assert payload.challenge == "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"


@pytest.mark.parametrize("name", EVENT_FIXTURES)
def test_every_event_fixture_parses_with_event_id_as_dedupe_key(
    fixture_bytes: Callable[[str], bytes], fixture_json: Callable[[str], Any], name: str
) -> None:
    payload = _callback(fixture_bytes, name)

    assert payload.dedupe_key == fixture_json(f"slack/events/{name}.json")["event_id"]


def test_thread_reply_is_recognised_with_its_thread(fixture_bytes: Callable[[str], bytes]) -> None:
    event = _callback(fixture_bytes, "message_thread_reply").event

    assert event.is_message
    assert event.is_thread_reply
    assert (event.channel_id, event.thread_ts, event.user_id) == (
        "C123ABC456",
        "1726133698.626339",
        "U061F7AUR",
    )
    assert event.effective.text == "When Slack was released?"
    assert not event.is_from_a_bot


def test_app_bot_message_without_subtype_is_recognised_as_our_own(
    fixture_bytes: Callable[[str], bytes],
) -> None:
    payload = _callback(fixture_bytes, "message_from_bot_user")
    event = payload.event

    assert event.subtype is None
    assert event.is_from_a_bot
    assert event.is_authored_by(user_id=payload.authorizations[0].user_id, bot_id=None)
    assert event.is_authored_by(user_id=None, bot_id="B999")
    assert not event.is_authored_by(user_id="U0LAN0Z89", bot_id="B123ABC456")


def test_classic_bot_message_is_a_bot_but_not_ours(fixture_bytes: Callable[[str], bytes]) -> None:
    event = _callback(fixture_bytes, "message_bot_message").event

    assert event.is_from_a_bot
    assert event.user_id is None
    assert not event.is_authored_by(user_id="U0LAN0Z89", bot_id="B123ABC456")


def test_edited_message_is_read_from_the_nested_message(fixture_bytes: Callable[[str], bytes]) -> None:
    event = _callback(fixture_bytes, "message_changed").event

    assert event.effective.text == "Hello, world!"
    assert event.effective.ts == "1355517523.000005"
    assert event.is_authored_by(user_id="U123ABC456", bot_id=None)


def test_app_mention_and_non_message_events_keep_their_shapes(fixture_bytes: Callable[[str], bytes]) -> None:
    mention = _callback(fixture_bytes, "app_mention").event
    created = _callback(fixture_bytes, "channel_created").event

    assert mention.type == "app_mention"
    assert mention.effective.text.startswith("<@U0LAN0Z89>")
    assert created.channel_id == "C024BE91L"
    assert not created.is_message


def test_message_replied_arrives_as_a_hidden_notice_not_a_reply(
    fixture_bytes: Callable[[str], bytes],
) -> None:
    event = _callback(fixture_bytes, "message_replied").event

    assert event.hidden
    assert not event.is_thread_reply
    nested = event.nested_message
    assert isinstance(nested, SlackMessage)
    assert nested.reply_count == 1


def test_app_rate_limited_notice_is_parsed() -> None:
    body = (
        b'{"token":"t","type":"app_rate_limited","team_id":"T1",'
        b'"minute_rate_limited":1518467820,"api_app_id":"A1"}'
    )
    payload = parse_slack_payload(body)

    assert isinstance(payload, SlackAppRateLimited)
    assert payload.minute_rate_limited == 1518467820


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "not JSON"),
        (b"token=x&challenge=y", "not JSON"),
        (b'"event_callback"', "not a JSON object"),
        (b'{"type": "block_actions"}', "unsupported payload type"),
        (b'{"type": "url_verification"}', "challenge"),
        (b'{"type": "event_callback", "event": {"type": "message"}}', "event_id"),
        (b'{"type": "event_callback", "event_id": "Ev1", "event": {}}', "event.type"),
        (b'{"type": "event_callback", "event_id": "Ev1", "event": {"type": "message", "ts": 5}}', "event.ts"),
    ],
)
def test_malformed_delivery_is_refused_with_a_reason(body: bytes, reason: str) -> None:
    with pytest.raises(MalformedPayload) as caught:
        parse_slack_payload(body)
    assert reason in caught.value.reason


_json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20))
_json = st.recursive(
    _json_leaf,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=25,
)
_event = st.fixed_dictionaries(
    {"type": st.one_of(st.sampled_from(["message", "app_mention"]), _json)},
    optional={
        k: _json
        for k in (
            "subtype",
            "user",
            "bot_id",
            "text",
            "ts",
            "thread_ts",
            "channel",
            "message",
            "blocks",
            "hidden",
        )
    },
)
_payload = st.fixed_dictionaries(
    {"type": st.one_of(st.sampled_from(["event_callback", "url_verification", "app_rate_limited"]), _json)},
    optional={
        "event_id": _json,
        "event": st.one_of(_event, _json),
        "challenge": _json,
        "authorizations": _json,
    },
)


@settings(deadline=None)  # a loaded CI machine must not turn slowness into a failure
@given(payload=_payload)
def test_any_json_delivery_parses_or_is_refused_as_malformed(payload: dict[str, Any]) -> None:
    try:
        parsed = parse_slack_payload(json.dumps(payload).encode())
    except MalformedPayload:
        return
    if isinstance(parsed, SlackEventCallback):
        event = parsed.event
        # Reading what the worker reads never fails, whatever the event held.
        _ = (event.effective, event.is_thread_reply, event.channel_id, event.is_authored_by("U1", "B1"))
        assert parsed.dedupe_key


@settings(deadline=None)  # a loaded CI machine must not turn slowness into a failure
@given(body=st.binary(max_size=300))
def test_any_bytes_parse_or_are_refused_as_malformed(body: bytes) -> None:
    try:
        parsed = parse_slack_payload(body)
    except MalformedPayload:
        return
    assert isinstance(parsed, SlackUrlVerification | SlackEventCallback | SlackAppRateLimited)


def test_retry_headers_are_read_from_the_documented_values(fixture_json: Callable[[str], Any]) -> None:
    documented = fixture_json("slack/signing/retry_headers.json")
    headers = httpx.Headers(documented["retry_1_http_timeout"])

    assert slack_retry(headers) == SlackRetry(number=1, reason="http_timeout")
    assert slack_retry(httpx.Headers({})) is None
    assert slack_retry(httpx.Headers({"X-Slack-Retry-Num": "one"})) is None
