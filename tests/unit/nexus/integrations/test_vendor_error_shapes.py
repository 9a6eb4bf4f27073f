"""Both clients turn the vendors' documented error responses into typed errors.

The responses are served by an in-memory HTTP transport that replays the documented envelopes in
../shared/fixtures (status, headers, body) exactly; the clients run unmodified on top of it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from oblivion_nexus.integrations.clickup import (
    ClickUpApiError,
    ClickUpAuthError,
    ClickUpClient,
    ClickUpRateLimited,
    ClickUpUnavailable,
)
from oblivion_nexus.integrations.errors import IntegrationError
from oblivion_nexus.integrations.slack import SlackApiError, SlackClient, SlackRateLimited, SlackUnavailable


def _replay(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    content = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())

    def respond(_: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=content, headers=headers or {})

    return httpx.AsyncClient(transport=httpx.MockTransport(respond))


@pytest.mark.parametrize(
    "name",
    [
        "error.channel_not_found",
        "error.not_in_channel",
        "error.invalid_auth",
        "chat.postMessage.error_too_many_attachments",
    ],
)
async def test_slack_ok_false_with_http_200_is_an_api_error(
    fixture_json: Callable[[str], Any], name: str
) -> None:
    body = fixture_json(f"slack/web/{name}.json")
    async with _replay(200, body) as http:
        with pytest.raises(SlackApiError) as caught:
            await SlackClient("xoxb-t", http=http).post_message("C1", "hi")
    assert caught.value.error == body["error"]


async def test_slack_documented_429_is_rate_limited_with_retry_after(
    fixture_json: Callable[[str], Any],
) -> None:
    envelope = fixture_json("slack/web/error.ratelimited.http429.json")
    async with _replay(envelope["status"], envelope["body"], envelope["headers"]) as http:
        with pytest.raises(SlackRateLimited) as caught:
            await SlackClient("xoxb-t", http=http).post_message("C1", "hi")
    assert caught.value.retry_after == 30


async def test_slack_documented_success_shapes_parse(fixture_json: Callable[[str], Any]) -> None:
    async with _replay(200, fixture_json("slack/web/chat.postMessage.ok.json")) as http:
        posted = await SlackClient("xoxb-t", http=http).post_message("C123ABC456", "hi")
    async with _replay(
        200, {**fixture_json("slack/web/conversations.replies.ok.json"), "response_metadata": {}}
    ) as http:
        thread = await SlackClient("xoxb-t", http=http).replies("C123ABC456", "1482960137.003543")
    async with _replay(
        200, {"ok": True, "channel": "C1", "permalink": "https://x.slack.com/archives/C1/p1"}
    ) as http:
        link = await SlackClient("xoxb-t", http=http).get_permalink("C1", "1.2")

    assert (posted.channel, posted.ts) == ("C123ABC456", "1503435956.000247")
    assert [m.text for m in thread] == ["island", "one island", "two island", "three for the land"]
    assert link == "https://x.slack.com/archives/C1/p1"


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (502, b"<html>bad gateway</html>", SlackUnavailable),
        (200, b"<html>captive portal</html>", SlackApiError),
        (200, b"[]", SlackApiError),
        (200, b'{"ok": true}', SlackApiError),  # auth.test without user_id
        (429, b"", SlackRateLimited),
    ],
)
async def test_slack_odd_responses_are_typed_errors(
    status: int, body: bytes, expected: type[Exception]
) -> None:
    async with _replay(status, body) as http:
        with pytest.raises(expected) as caught:
            await SlackClient("xoxb-secret-value", http=http).auth_test()
    assert isinstance(caught.value, IntegrationError)
    assert "xoxb-secret-value" not in str(caught.value)


async def test_clickup_template_error_body_is_an_api_error(fixture_json: Callable[[str], Any]) -> None:
    async with _replay(400, fixture_json("clickup/api/error.400_template_name_required.json")) as http:
        with pytest.raises(ClickUpApiError) as caught:
            await ClickUpClient("pk_t", http=http).get_task("9hx")
    assert (caught.value.status, caught.value.ecode, caught.value.message) == (
        400,
        "OAUTH_117",
        "Name is required",
    )


async def test_clickup_err_body_with_401_is_an_auth_error() -> None:
    async with _replay(401, {"err": "Token invalid", "ECODE": "OAUTH_025"}) as http:
        with pytest.raises(ClickUpAuthError) as caught:
            await ClickUpClient("pk_t", http=http).get_task("9hx")
    assert caught.value.ecode == "OAUTH_025"


async def test_clickup_documented_429_uses_the_reset_timestamp(fixture_json: Callable[[str], Any]) -> None:
    envelope = fixture_json("clickup/api/error.429_rate_limited.http.json")
    headers = {**envelope["headers"], "X-RateLimit-Reset": "1700000042"}
    async with _replay(429, envelope["body"], headers) as http:
        with pytest.raises(ClickUpRateLimited) as caught:
            await ClickUpClient("pk_t", http=http, clock=lambda: 1700000000.0).get_task("9hx")
    assert caught.value.retry_after == 42


async def test_clickup_429_without_a_usable_reset_waits_a_minute(fixture_json: Callable[[str], Any]) -> None:
    envelope = fixture_json("clickup/api/error.429_rate_limited.http.json")  # Reset is a placeholder
    async with _replay(429, envelope["body"], envelope["headers"]) as http:
        with pytest.raises(ClickUpRateLimited) as caught:
            await ClickUpClient("pk_t", http=http).get_task("9hx")
    assert caught.value.retry_after == 60


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (503, b"", ClickUpUnavailable),
        (200, b"not json", ClickUpApiError),
        (200, b'{"id": "9hx"}', ClickUpApiError),  # a task without a name
        (404, b"Not Found", ClickUpApiError),
    ],
)
async def test_clickup_odd_responses_are_typed_errors(
    status: int, body: bytes, expected: type[Exception]
) -> None:
    async with _replay(status, body) as http:
        with pytest.raises(expected) as caught:
            await ClickUpClient("pk_secret_value", http=http).get_task("9hx")
    assert "pk_secret_value" not in str(caught.value)


@pytest.mark.parametrize(("reset", "expected"), [("inf", 60.0), ("nan", 60.0), ("9999999999", 3600.0)])
async def test_clickup_absurd_reset_header_never_parks_a_job_forever(reset: str, expected: float) -> None:
    async with _replay(429, None, {"X-RateLimit-Reset": reset}) as http:
        with pytest.raises(ClickUpRateLimited) as caught:
            await ClickUpClient("pk_t", http=http, clock=lambda: 1700000000.0).get_task("9hx")
    assert caught.value.retry_after == expected


@pytest.mark.parametrize(
    ("header", "expected"), [("inf", 60.0), ("soon", 60.0), ("86400", 3600.0), ("-5", 0.0)]
)
async def test_slack_absurd_retry_after_never_parks_a_job_forever(header: str, expected: float) -> None:
    async with _replay(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": header}) as http:
        with pytest.raises(SlackRateLimited) as caught:
            await SlackClient("xoxb-t", http=http).auth_test()
    assert caught.value.retry_after == expected


async def test_thread_pages_that_repeat_the_parent_yield_it_once(fixture_json: Callable[[str], Any]) -> None:
    first = fixture_json("slack/web/conversations.replies.ok.json")
    parent, *replies = first["messages"]
    later = {
        "ok": True,
        "messages": [parent, {**replies[0], "ts": "1483125340.000001", "text": "four"}],
        "has_more": False,
        "response_metadata": {"next_cursor": ""},
    }
    pages = iter([first, later])

    def respond(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=next(pages))

    async with httpx.AsyncClient(transport=httpx.MockTransport(respond)) as http:
        thread = await SlackClient("xoxb-t", http=http).replies("C123ABC456", parent["ts"])

    assert [m.text for m in thread] == ["island", "one island", "two island", "three for the land", "four"]
