"""The Slack channel client against the fake Slack Web API (documented shapes, errors and 429s)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from oblivion_operator.clients.slack import SlackChannels
from oblivion_operator.errors import ExternalError, NotFound
from tests.fakes.slack import FakeSlack


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as slack:
        yield slack


@pytest.fixture
async def channels(fake: FakeSlack) -> AsyncIterator[SlackChannels]:
    client = SlackChannels(fake.bot_token, fake.url + "/api")
    yield client
    await client.aclose()


async def test_new_channel_is_created_once(fake: FakeSlack, channels: SlackChannels) -> None:
    created = await channels.ensure_channel("proj-payments")
    again = await channels.ensure_channel("proj-payments")
    assert again.id == created.id
    assert [c["name"] for c in fake.channels] == ["proj-payments"]


async def test_taken_name_is_adopted_even_past_the_first_page_and_unarchived(
    fake: FakeSlack, channels: SlackChannels
) -> None:
    for i in range(250):  # conversations.list pages hold 200
        fake.add_channel(f"other-{i:03d}")
    existing = fake.add_channel("team-backend")
    fake.archive_channel(existing["id"])
    adopted = await channels.ensure_channel("team-backend")
    assert adopted.id == existing["id"]
    assert adopted.is_member is False  # made by a person: the caller joins it
    assert fake.channel(existing["id"])["is_archived"] is False
    assert len(fake.calls_to("conversations.list")) == 2


async def test_rate_limit_carries_slacks_retry_after(fake: FakeSlack, channels: SlackChannels) -> None:
    fake.rate_limit("conversations.create", retry_after=7)
    with pytest.raises(ExternalError) as caught:
        await channels.ensure_channel("busy")
    assert caught.value.status == 429
    assert caught.value.retry_after == 7.0
    assert (await channels.ensure_channel("busy")).name == "busy"


async def test_missing_channel_is_not_found_and_archiving_it_is_a_no_op(channels: SlackChannels) -> None:
    with pytest.raises(NotFound):
        await channels.info("C0MISSING1")
    await channels.archive("C0MISSING1")


async def test_archive_and_unarchive_are_idempotent(fake: FakeSlack, channels: SlackChannels) -> None:
    channel = await channels.ensure_channel("done")
    await channels.archive(channel.id)
    await channels.archive(channel.id)
    assert (await channels.info(channel.id)).is_archived
    await channels.unarchive(channel.id)
    await channels.unarchive(channel.id)
    assert not (await channels.info(channel.id)).is_archived


async def test_bad_token_is_a_permanent_error(fake: FakeSlack) -> None:
    client = SlackChannels("xoxb-wrong", fake.url + "/api/")
    try:
        with pytest.raises(ExternalError) as caught:
            await client.ensure_channel("x")
        assert caught.value.code == "invalid_auth"
        assert caught.value.retryable is False
    finally:
        await client.aclose()
