"""A Slack reply whose author ``users.info`` cannot describe (``user_not_found``: someone from another
workspace in a shared channel) is mirrored to ClickUp under a placeholder name, once, instead of
failing the job until its retries run out and the reply is lost."""

from __future__ import annotations

from oblivion_nexus.services.taskflow.context import placeholder_user_name
from oblivion_nexus.worker import running_worker
from tests.fakes.slack_events import SlackEventRelay, SlackEventSender
from tests.support.taskflow import (
    ALIAS,
    LIST_ID,
    FlowStack,
    add_clickup_webhook,
    inbox_frames,
    register_team,
    settle,
)
from tests.support.waiting import eventually

STRANGER = "U0STRANGER1"  # posts in the channel, but the workspace's users.info does not know them


async def test_a_reply_by_an_author_slack_cannot_name_is_mirrored_under_a_placeholder(
    stack: FlowStack,
) -> None:
    await register_team(stack)
    add_clickup_webhook(stack)
    relay = SlackEventRelay(stack.slack, SlackEventSender(stack.slack_url, stack.signing_secret))
    async with running_worker(stack.settings):
        task, _ = await stack.clickup.create_task(
            list_id=LIST_ID, name="Fix login", description=f"@{ALIAS} go"
        )
        await eventually(lambda: inbox_frames(stack), what="TASK_ASSIGNED")
        await settle(stack)
        root = next(m for m in stack.slack.messages(stack.channel_id) if "thread_ts" not in m)
        await relay.deliver_new()

        stack.slack.post_as_user(
            stack.channel_id, "Seen from our side too", user=STRANGER, thread_ts=root["ts"]
        )
        await relay.deliver_new()

        def mirrored() -> list[str]:
            comments = stack.clickup.comments_newest_first(task["id"])
            return [str(c.get("comment_text", "")) for c in comments if "Seen from our side too" in str(c)]

        await eventually(lambda: mirrored(), what="the stranger's reply mirrored to ClickUp")
        await settle(stack)
    assert mirrored() == [f"{placeholder_user_name(STRANGER)} (Slack): Seen from our side too"]
