"""What the fast intake path must not cost: the thread link is made without asking Slack, and the
worker's short memory of the registry still lets registry changes reach the flow within seconds."""

from __future__ import annotations

from oblivion_nexus.services.taskflow.context import REGISTRY_CACHE_SECONDS
from oblivion_nexus.worker import running_worker
from tests.support.taskflow import (
    ALIAS,
    LIST_ID,
    PROJECT,
    WORKGROUP,
    FlowStack,
    add_clickup_webhook,
    inbox_frames,
    register_team,
)
from tests.support.waiting import eventually


async def test_task_assigned_carries_the_thread_permalink_without_a_permalink_call(stack: FlowStack) -> None:
    await register_team(stack)
    add_clickup_webhook(stack)
    async with running_worker(stack.settings):
        await stack.clickup.create_task(list_id=LIST_ID, name="Quick", description=f"@{ALIAS} now")
        frames = await eventually(lambda: inbox_frames(stack), what="TASK_ASSIGNED")
    root = next(m for m in stack.slack.messages(stack.channel_id) if "thread_ts" not in m)
    # The link chat.getPermalink would have given for the root message.
    expected = stack.slack.workspace.chat_get_permalink(
        {"channel": stack.channel_id, "message_ts": root["ts"]}
    )
    assert frames[0]["data"]["thread_url"] == expected["permalink"]
    assert stack.slack.calls_to("chat.getPermalink") == []


async def test_archiving_a_project_reaches_the_worker_within_seconds(stack: FlowStack) -> None:
    await register_team(stack)
    async with running_worker(stack.settings) as flow:
        found = await flow.project_and_agents(LIST_ID)
        assert found is not None
        assert not found[0].archived
        assert [agent.name for agent in found[1]] == ["reviewer"]
        await register_team(stack, archived=True)

        async def archived() -> bool:
            now = await flow.project_and_agents(LIST_ID)
            return now is not None and now[0].archived

        # Within the cache's lifetime (plus slack for a loaded machine), never "eventually".
        await eventually(archived, timeout=REGISTRY_CACHE_SECONDS + 3, what="the archived project seen")


async def test_a_list_registered_after_an_unknown_list_task_is_found_at_once(stack: FlowStack) -> None:
    async with running_worker(stack.settings) as flow:
        assert await flow.project_and_agents(LIST_ID) is None
        await register_team(stack)
        found = await flow.project_and_agents(LIST_ID)
    assert found is not None
    assert (found[0].workgroup, found[0].name) == (WORKGROUP, PROJECT)
