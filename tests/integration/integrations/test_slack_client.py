"""The Slack client against the fake Slack Web API (tests/fakes/slack.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

from oblivion_nexus.integrations.slack import (
    SlackApiError,
    SlackClient,
    SlackRateLimited,
    SlackUnavailable,
)
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_state import BOT_ID, BOT_USER_ID


@pytest.fixture
async def slack(fake_slack: FakeSlack) -> AsyncIterator[SlackClient]:
    async with SlackClient(fake_slack.bot_token, base_url=fake_slack.url + "/api/") as client:
        yield client


@pytest.fixture
def channel_id(fake_slack: FakeSlack) -> str:
    channel_id: str = fake_slack.add_channel("proj-login", bot_is_member=True)["id"]
    return channel_id


async def test_identity_is_asked_once_and_remembered(fake_slack: FakeSlack, slack: SlackClient) -> None:
    first, *concurrent = await asyncio.gather(*(slack.identity() for _ in range(5)))
    later = await slack.identity()

    assert (first.user_id, first.bot_id) == (BOT_USER_ID, BOT_ID)
    assert concurrent == [first] * 4
    assert later == first
    assert len(fake_slack.calls_to("auth.test")) == 1


async def test_root_message_and_thread_reply_are_posted_under_an_agents_name(
    fake_slack: FakeSlack, slack: SlackClient, channel_id: str
) -> None:
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": "*Fix login* <https://app.clickup.com/t/9hx>"}}
    ]
    root = await slack.post_message(channel_id, "Fix login", blocks=blocks)
    reply = await slack.post_message(
        channel_id, "On it.", thread_ts=root.ts, username="ai-backend", icon_emoji=":robot_face:"
    )

    assert root.channel == channel_id
    assert reply.message is not None
    assert reply.message.thread_ts == root.ts
    assert reply.message.bot_id == BOT_ID
    stored = fake_slack.thread(channel_id, root.ts)
    assert [m["text"] for m in stored] == ["Fix login", "On it."]
    assert stored[0]["blocks"] == blocks
    assert stored[1]["username"] == "ai-backend"
    assert stored[1]["icons"] == {"icon_emoji": ":robot_face:"}


async def test_a_long_thread_is_read_across_cursor_pages(
    fake_slack: FakeSlack, slack: SlackClient, channel_id: str
) -> None:
    root = await slack.post_message(channel_id, "root")
    for n in range(12):
        fake_slack.post_as_user(channel_id, f"reply {n}", thread_ts=root.ts)

    messages = [m async for m in slack.iter_replies(channel_id, root.ts, limit=5)]

    assert [m.text for m in messages] == ["root", *(f"reply {n}" for n in range(12))]
    assert [m.is_thread_reply for m in messages] == [False] + [True] * 12
    assert len(fake_slack.calls_to("conversations.replies")) == 3


async def test_slack_error_code_becomes_an_api_error(slack: SlackClient) -> None:
    with pytest.raises(SlackApiError) as caught:
        await slack.post_message("C_NOPE", "hello")

    assert caught.value.error == "channel_not_found"
    assert caught.value.method == "chat.postMessage"


async def test_posting_where_the_bot_is_not_a_member_is_refused(
    fake_slack: FakeSlack, slack: SlackClient
) -> None:
    outside = fake_slack.add_channel("not-ours")["id"]

    with pytest.raises(SlackApiError) as caught:
        await slack.post_message(outside, "hello")

    assert caught.value.error == "not_in_channel"


async def test_rate_limit_carries_retry_after(
    fake_slack: FakeSlack, slack: SlackClient, channel_id: str
) -> None:
    fake_slack.rate_limit("chat.postMessage", times=1, retry_after=30)

    with pytest.raises(SlackRateLimited) as caught:
        await slack.post_message(channel_id, "hello")

    assert caught.value.retry_after == 30
    assert (await slack.post_message(channel_id, "hello")).ts


async def test_invalid_token_fails_without_revealing_it(
    fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = "xoxb-not-the-right-token-123"
    async with SlackClient(token, base_url=fake_slack.url + "/api/") as client:
        with pytest.raises(SlackApiError) as caught:
            await client.auth_test()

    assert caught.value.error == "invalid_auth"
    assert token not in str(caught.value) + repr(caught.value) + repr(client) + caplog.text


async def test_unreachable_slack_is_unavailable() -> None:
    async with SlackClient("xoxb-x", base_url="http://127.0.0.1:9/api/") as client:
        with pytest.raises(SlackUnavailable):
            await client.auth_test()


async def test_permalink_of_a_posted_message(slack: SlackClient, channel_id: str) -> None:
    root = await slack.post_message(channel_id, "root")

    link = await slack.get_permalink(channel_id, root.ts)

    assert link.startswith("https://")
    assert root.ts.replace(".", "") in link
    with pytest.raises(SlackApiError) as caught:
        await slack.get_permalink(channel_id, "1.000001")
    assert caught.value.error == "message_not_found"
