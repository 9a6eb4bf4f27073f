"""The fake Slack speaks the Web API as slack_sdk expects: shapes, errors, pagination, rate limits."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack import FakeSlack

FIXTURES = pathlib.Path("/work/shared/fixtures/slack/web")


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def client(slack: FakeSlack) -> WebClient:
    return WebClient(token=slack.bot_token, base_url=slack.url + "/api/")


def _fixture(name: str) -> dict[str, object]:
    loaded: dict[str, object] = json.loads((FIXTURES / name).read_text())
    return loaded


def test_created_channel_has_the_documented_shape_and_can_be_read_back(client: WebClient) -> None:
    created = client.conversations_create(name="proj-endeavor")
    documented = _fixture("conversations.create.ok.json")["channel"]
    assert isinstance(documented, dict)
    missing = set(documented) - set(created["channel"]) - {"properties"}
    assert not missing
    info = client.conversations_info(channel=created["channel"]["id"])
    assert info["channel"]["name"] == "proj-endeavor"
    assert info["channel"]["is_member"] is True


def test_a_taken_name_and_an_invalid_name_are_refused_like_slack(client: WebClient) -> None:
    client.conversations_create(name="proj-x")
    with pytest.raises(SlackApiError) as taken:
        client.conversations_create(name="proj-x")
    assert taken.value.response.status_code == 200
    assert taken.value.response.data == _fixture("conversations.create.error_name_taken.json")
    with pytest.raises(SlackApiError) as invalid:
        client.conversations_create(name="Proj X!")
    assert invalid.value.response["error"] == "invalid_name"


def test_a_wrong_bot_token_gets_invalid_auth(slack: FakeSlack) -> None:
    wrong = WebClient(token="xoxb-wrong", base_url=slack.url + "/api/")
    with pytest.raises(SlackApiError) as refused:
        wrong.auth_test()
    assert refused.value.response.data == _fixture("error.invalid_auth.json")


def test_archiving_twice_and_unknown_channels_give_the_documented_errors(client: WebClient) -> None:
    channel = client.conversations_create(name="proj-arch")["channel"]["id"]
    assert client.conversations_archive(channel=channel).data == _fixture("conversations.archive.ok.json")
    with pytest.raises(SlackApiError) as again:
        client.conversations_archive(channel=channel)
    assert again.value.response["error"] == "already_archived"
    client.conversations_unarchive(channel=channel)
    with pytest.raises(SlackApiError) as missing:
        client.conversations_archive(channel="C404")
    assert missing.value.response.data == _fixture("conversations.archive.error_channel_not_found.json")


def test_thread_replies_are_paginated_with_cursors(slack: FakeSlack, client: WebClient) -> None:
    channel = client.conversations_create(name="proj-thread")["channel"]["id"]
    root = client.chat_postMessage(channel=channel, text="task", username="ai-backend", icon_emoji=":robot:")
    assert set(_fixture("chat.postMessage.ok.json")) <= set(root.data)
    timestamps = [root["ts"]]
    for number in range(5):
        reply = client.chat_postMessage(channel=channel, text=f"reply {number}", thread_ts=root["ts"])
        timestamps.append(reply["ts"])
    assert timestamps == sorted(timestamps)
    assert len(set(timestamps)) == 6

    seen: list[str] = []
    cursor = None
    while True:
        page = client.conversations_replies(channel=channel, ts=root["ts"], limit=2, cursor=cursor)
        seen += [message["ts"] for message in page["messages"]]
        cursor = page["response_metadata"]["next_cursor"]
        assert page["has_more"] is bool(cursor)
        if not cursor:
            break
    assert seen == timestamps
    thread = slack.thread(channel, root["ts"])
    assert thread[0]["reply_count"] == 5
    assert thread[0]["username"] == "ai-backend"
    assert all(m["parent_user_id"] for m in thread[1:])
    with pytest.raises(SlackApiError) as unknown:
        client.conversations_replies(channel=channel, ts="1.000001")
    assert unknown.value.response.data == _fixture("conversations.replies.error_thread_not_found.json")


def test_channels_are_listed_page_by_page(client: WebClient) -> None:
    for number in range(7):
        client.conversations_create(name=f"proj-{number}")
    names: list[str] = []
    for page in client.conversations_list(limit=3):
        names += [channel["name"] for channel in page["channels"]]
    assert names == [f"proj-{number}" for number in range(7)]


def test_a_rate_limited_call_is_retried_after_retry_after(slack: FakeSlack) -> None:
    client = WebClient(
        token=slack.bot_token,
        base_url=slack.url + "/api/",
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)],
    )
    slack.rate_limit("conversations.create", times=1, retry_after=1)
    started = time.monotonic()
    created = client.conversations_create(name="proj-later")
    assert created["channel"]["name"] == "proj-later"
    assert time.monotonic() - started >= 1.0
    calls = slack.calls_to("conversations.create")
    assert [call.status for call in calls] == [429, 200]
    assert calls[0].response == {"ok": False, "error": "ratelimited"}


def test_without_a_retry_handler_the_429_reaches_the_caller(slack: FakeSlack, client: WebClient) -> None:
    slack.rate_limit("chat.postMessage", times=1, retry_after=7)
    channel = client.conversations_create(name="proj-busy")["channel"]["id"]
    with pytest.raises(SlackApiError) as limited:
        client.chat_postMessage(channel=channel, text="hi")
    assert limited.value.response.status_code == 429
    assert limited.value.response.headers["Retry-After"] == "7"
    assert client.chat_postMessage(channel=channel, text="hi")["ok"] is True


def test_drift_behind_the_clients_back_is_visible_to_it(slack: FakeSlack, client: WebClient) -> None:
    channel = client.conversations_create(name="proj-drift")["channel"]["id"]
    slack.archive_channel(channel)
    assert client.conversations_info(channel=channel)["channel"]["is_archived"] is True
    with pytest.raises(SlackApiError) as archived:
        client.chat_postMessage(channel=channel, text="hello?")
    assert archived.value.response["error"] == "is_archived"
    slack.delete_channel(channel)
    with pytest.raises(SlackApiError) as gone:
        client.conversations_info(channel=channel)
    assert gone.value.response.data == _fixture("error.channel_not_found.json")


def test_an_adopted_channel_needs_a_join_before_posting(slack: FakeSlack, client: WebClient) -> None:
    existing = slack.add_channel("team-backend")
    with pytest.raises(SlackApiError) as outside:
        client.chat_postMessage(channel=existing["id"], text="hi")
    assert outside.value.response.data == _fixture("error.not_in_channel.json")
    assert client.conversations_join(channel=existing["id"])["channel"]["is_member"] is True
    posted = client.chat_postMessage(channel=existing["id"], text="hi")
    reply = slack.post_as_user(existing["id"], "thanks", thread_ts=posted["ts"])
    assert client.conversations_replies(channel=existing["id"], ts=posted["ts"])["messages"][1] == reply


def test_users_are_looked_up_by_id(client: WebClient) -> None:
    assert client.users_info(user="U061F7AUR")["user"]["name"] == "spengler"
    with pytest.raises(SlackApiError) as missing:
        client.users_info(user="U404")
    assert missing.value.response["error"] == "user_not_found"


async def test_the_async_client_works_against_the_fake(slack: FakeSlack) -> None:
    client = AsyncWebClient(token=slack.bot_token, base_url=slack.url + "/api/")
    identity = await client.auth_test()
    assert identity["user_id"] == "U0LAN0Z89"
    created = await client.conversations_create(name="proj-async")
    posted = await client.chat_postMessage(
        channel=created["channel"]["id"],
        text="hello",
        blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}],
    )
    assert slack.messages(created["channel"]["id"])[0]["blocks"][0]["type"] == "section"
    assert posted["message"]["text"] == "hello"


def test_the_fake_runs_as_a_standalone_process() -> None:
    repo = pathlib.Path(__file__).resolve().parents[3]
    command = [sys.executable, "-m", "tests.fakes.slack", "--port", "0", "--token", "xoxb-e2e"]
    with subprocess.Popen(command, cwd=repo, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert "listening on" in line
            url = line.split("listening on ", 1)[1].strip()
            assert WebClient(token="xoxb-e2e", base_url=url).auth_test()["ok"] is True
        finally:
            process.terminate()
        assert process.wait(10) == 0


def test_permalinks_and_edits_of_posted_messages(client: WebClient) -> None:
    channel = client.conversations_create(name="proj-links")["channel"]["id"]
    posted = client.chat_postMessage(channel=channel, text="draft")
    link = client.chat_getPermalink(channel=channel, message_ts=posted["ts"])
    assert link["permalink"].endswith(posted["ts"].replace(".", ""))
    edited = client.chat_update(channel=channel, ts=posted["ts"], text="final")
    assert edited["message"]["text"] == "final"
    with pytest.raises(SlackApiError) as missing:
        client.chat_getPermalink(channel=channel, message_ts="1.000001")
    assert missing.value.response["error"] == "message_not_found"
