"""A person closing a tracked task in ClickUp gets its model usage as a comment on the task, once."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from oblivion_nexus.services import registry
from oblivion_nexus.services.models import spending
from oblivion_nexus.worker import running_worker
from tests.support.taskflow import (
    AGENT,
    ALIAS,
    LIST_ID,
    WORKGROUP,
    FlowStack,
    add_clickup_webhook,
    inbox_frames,
    register_team,
    settle,
)
from tests.support.waiting import eventually


def usage_comments(stack: FlowStack, task_id: str) -> list[str]:
    return [
        str(c.get("comment_text", ""))
        for c in stack.clickup.comments_newest_first(task_id)
        if "Model usage" in str(c.get("comment_text", ""))
    ]


async def test_a_task_closed_in_clickup_gets_its_model_usage_as_a_comment(stack: FlowStack) -> None:
    await register_team(stack)
    add_clickup_webhook(stack)
    async with running_worker(stack.settings) as flow:
        task, _ = await stack.clickup.create_task(
            list_id=LIST_ID, name="Fix login", description=f"@{ALIAS} go"
        )
        await eventually(lambda: inbox_frames(stack), what="TASK_ASSIGNED")
        await settle(stack)
        async with flow.resources.sessionmaker() as session:
            agent = await registry.get_agent(session, WORKGROUP, AGENT)
            assert agent is not None
            await spending.record_call(
                session,
                spending.ModelCall(
                    workgroup=WORKGROUP,
                    agent=AGENT,
                    agent_id=agent.id,
                    task_id=task["id"],
                    provider="openai",
                    model="gpt-4o-mini",
                    prompt_tokens=12_000,
                    completion_tokens=3_400,
                    cost_usd=Decimal("0.003840"),
                    day=dt.datetime.now(dt.UTC).date(),
                ),
            )

        await stack.clickup.change_status(task["id"], "complete")

        async def commented() -> list[str]:
            return usage_comments(stack, task["id"])

        [comment] = await eventually(commented, what="the usage comment")
        await settle(stack)
    assert "15,400 tokens (12,000 prompt, 3,400 completion) in 1 model call, US$ 0.0038." in comment
    assert len(usage_comments(stack, task["id"])) == 1
