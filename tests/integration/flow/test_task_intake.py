"""A ClickUp task mentioning an agent becomes one Slack thread, one link comment and one TASK_ASSIGNED."""

from __future__ import annotations

from oblivion_nexus.worker import running_worker
from tests.support.taskflow import ALIAS, LIST_ID, FlowStack, add_clickup_webhook, inbox_frames, register_team
from tests.support.waiting import eventually


def task_reads(stack: FlowStack, task_id: str) -> list[object]:
    return [c for c in stack.clickup.calls if c.method == "GET" and c.path.endswith(f"task/{task_id}")]


def root_messages(stack: FlowStack) -> list[dict]:
    return [m for m in stack.slack.messages(stack.channel_id) if "thread_ts" not in m]


async def test_task_mentioning_an_agent_gets_a_thread_a_link_comment_and_task_assigned(
    stack: FlowStack,
) -> None:
    await register_team(stack)
    add_clickup_webhook(stack)
    async with running_worker(stack.settings):
        task, deliveries = await stack.clickup.create_task(
            list_id=LIST_ID, name="Fix login timeout", description=f"@{ALIAS} please look at it"
        )
        assert all(d.delivered for d in deliveries)
        frames = await eventually(lambda: inbox_frames(stack), what="TASK_ASSIGNED")
    roots = root_messages(stack)
    assert len(roots) == 1
    assert "Fix login timeout" in roots[0]["text"]
    assert any(block["type"] == "header" for block in roots[0]["blocks"])
    links = [c for c in stack.clickup.comments[task["id"]] if "Slack thread: " in str(c)]
    assert len(links) == 1
    assert [f["type"] for f in frames] == ["TASK_ASSIGNED"]
    assert frames[0]["data"]["task_id"] == task["id"]
    assert frames[0]["data"]["thread_url"].startswith("https://")
    assert frames[0]["data"]["traceparent"] is None, "without tracing, the frame carries no trace context"


async def test_duplicate_deliveries_and_a_replayed_job_post_one_root_message(stack: FlowStack) -> None:
    await register_team(stack)
    hook_id = add_clickup_webhook(stack)
    async with running_worker(stack.settings):
        task, deliveries = await stack.clickup.create_task(
            list_id=LIST_ID, name="Rotate keys", description=f"for @{ALIAS}"
        )
        created = next(d for d in deliveries if d.event == "taskCreated")
        import json

        for _ in range(5):
            await stack.clickup.send_webhook(hook_id, json.loads(created.body))
        await eventually(lambda: inbox_frames(stack), what="TASK_ASSIGNED")
        # A ClickUp-side edit mentioning the agent again must not start a second thread either.
        await stack.clickup.change_description(task["id"], f"still for @{ALIAS}")
        await eventually(lambda: len(task_reads(stack, task["id"])) >= 2, what="re-read")
    assert len(root_messages(stack)) == 1
    links = [c for c in stack.clickup.comments[task["id"]] if "Slack thread: " in str(c)]
    assert len(links) == 1
    assigned = [f for f in await inbox_frames(stack) if f["type"] == "TASK_ASSIGNED"]
    assert len(assigned) == 1


async def test_task_of_an_unknown_list_is_recorded_and_ignored(stack: FlowStack) -> None:
    await register_team(stack)
    add_clickup_webhook(stack)
    stack.clickup.webhooks[next(iter(stack.clickup.webhooks))]["list_id"] = None  # all lists
    async with running_worker(stack.settings):
        task, _ = await stack.clickup.create_task(list_id="555", name="Elsewhere", description=f"@{ALIAS}")
        await eventually(lambda: task_reads(stack, task["id"]), what="task fetched")
    assert root_messages(stack) == []
    assert await inbox_frames(stack) == []
