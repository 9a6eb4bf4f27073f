"""The primary flow with every component a process: two API replicas, a worker, the reference triage
agent (``oblivion agent run``), and fake Slack and ClickUp processes.

ClickUp's webhook is the one the worker creates for the project (it points at the first replica);
Slack's events go to the second replica, and the agent is connected to the second replica too, so
every event the worker queues crosses replicas through Redis. Slack sends an event for every message
of the channel, Nexus's own included, exactly as the real Events API does: the message counts at the
end prove that nothing echoes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import Stack, Team
from tests.fakes.slack_events import SlackEventRelay, SlackEventSender
from tests.fakes.slack_state import HUMAN_USER_ID
from tests.secret_logs import SecretRegistry
from tests.support.stores import scratch_database
from tests.support.waiting import eventually, eventually_sync

ROOT_MESSAGE_DEADLINE = 3.0  # the promise: a task becomes a Slack thread within 3 s
FLOW_DEADLINE = 20.0  # agent replies and mirrors: bounded generously for a loaded 2-core machine


@pytest.fixture(scope="module")
def stack(
    redis_url: str, secret_registry: SecretRegistry, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Stack, Team]]:
    log_dir = Path(tmp_path_factory.mktemp("e2e-flow"))
    with scratch_database("oblivion_e2e") as database_url:
        stack = Stack(database_url=database_url, redis_url=redis_url, log_dir=log_dir)
        secret_registry.add(*stack.secret_values())
        try:
            stack.start_fakes()
            stack.migrate()
            stack.start_api()
            stack.start_api()
            team = stack.register_team()
            secret_registry.add(team.client_secret)
            stack.start_worker()
            assert stack.clickup is not None
            clickup = stack.clickup
            eventually_sync(
                lambda: [h for h in clickup.webhooks() if str(h.get("list_id")) == team.list_id],
                timeout=20,
                what="the worker created the project's ClickUp webhook",
                watch=stack.workers,
            )
            stack.start_agent(team, api=1)
            yield stack, team
        finally:
            stack.close()
            for proc in stack.processes:
                secret_registry.add_log_file(proc.log_path)


def root_of(stack: Stack, team: Team, task_id: str) -> dict[str, Any] | None:
    assert stack.slack is not None
    for message in stack.slack.roots(team.channel_id):
        payload = (message.get("metadata") or {}).get("event_payload") or {}
        if payload.get("task_id") == task_id:
            return message
    return None


def comment_texts(stack: Stack, task_id: str) -> list[str]:
    assert stack.clickup is not None
    return [str(c.get("comment_text", "")) for c in reversed(stack.clickup.comments(task_id))]


async def settle(stack: Stack) -> None:
    """Every queued job ran, twice in a row (jobs that caused other jobs ran too)."""
    for _ in range(2):
        await eventually(stack.queue_drained, timeout=FLOW_DEADLINE, what="webhook queue drained")


async def test_a_task_becomes_a_thread_the_agent_answers_and_replies_are_mirrored_once(
    stack: tuple[Stack, Team],
) -> None:
    nexus, team = stack
    slack, clickup = nexus.slack, nexus.clickup
    assert slack is not None
    assert clickup is not None
    relay = SlackEventRelay(
        slack, SlackEventSender(nexus.api_urls[1] + "/webhooks/slack", nexus.secrets["slack_signing_secret"])
    )
    relay.mark_all_seen()
    watch = nexus.processes

    created_at = time.monotonic()
    task = clickup.create_task(team.list_id, "Fix login", f"@{team.alias} users are logged out.\n- Check TTL")
    root = await eventually(
        lambda: root_of(nexus, team, task["id"]),
        timeout=ROOT_MESSAGE_DEADLINE,
        what="root message within 3 s",
        watch=watch,
    )
    assert time.monotonic() - created_at <= ROOT_MESSAGE_DEADLINE
    assert "Fix login" in str(root)

    # TASK_ASSIGNED reached the agent on the other replica: it acknowledges, plans, starts the task.
    def agent_texts() -> list[str]:
        return [m["text"] for m in slack.replies(team.channel_id, root["ts"]) if m.get("username")]

    await eventually(
        lambda: len(agent_texts()) >= 2, timeout=FLOW_DEADLINE, what="agent replies", watch=watch
    )
    assert agent_texts() == ["Acknowledged: Fix login. I am on it.", "Plan:\n1. Check TTL"]
    await eventually(
        lambda: f"triaged task {task['id']}" in nexus.agents[0].output(),
        timeout=FLOW_DEADLINE,
        what="the agent's handler finished",
        watch=watch,
    )
    await eventually(
        lambda: clickup.task(task["id"])["status"]["status"] == "in progress",
        timeout=FLOW_DEADLINE,
        what="task moved to in progress",
    )
    await relay.deliver_new()  # Slack sends Nexus its own posts back: they must not echo
    await settle(nexus)
    comments = comment_texts(nexus, task["id"])
    assert comments[0].startswith("Slack thread: ")
    assert comments[1:] == [
        "Triage Bot (Oblivion): Acknowledged: Fix login. I am on it.",
        "Triage Bot (Oblivion): Plan:\n1. Check TTL",
    ]

    # A person answers in the thread: one ClickUp comment, and CONTEXT_UPDATE at the agent.
    slack.post_as_user(team.channel_id, "The cookie TTL is 5 minutes", thread_ts=root["ts"])
    await relay.deliver_new()
    await eventually(
        lambda: any("(Slack): The cookie TTL is 5 minutes" in c for c in comment_texts(nexus, task["id"])),
        timeout=FLOW_DEADLINE,
        what="Slack reply mirrored to ClickUp",
        watch=watch,
    )
    agent_log = nexus.agents[0]
    await eventually(
        lambda: "no CONTEXT_UPDATE handler" in agent_log.output(),
        timeout=FLOW_DEADLINE,
        what="CONTEXT_UPDATE delivered to the agent",
        watch=watch,
    )

    # A person comments in ClickUp: one reply in the thread, attributed.
    clickup.comment(task["id"], "Check mobile too", username="Jane")
    await eventually(
        lambda: any(
            m.get("username") == "Jane (ClickUp)" for m in slack.replies(team.channel_id, root["ts"])
        ),
        timeout=FLOW_DEADLINE,
        what="ClickUp comment in the thread",
        watch=watch,
    )
    await relay.deliver_new()
    await settle(nexus)
    await relay.deliver_new()  # anything a late job posted comes back too
    await settle(nexus)

    thread = slack.replies(team.channel_id, root["ts"])
    assert [m.get("username") or m["user"] for m in thread] == [
        "Triage Bot",
        "Triage Bot",
        HUMAN_USER_ID,
        "Jane (ClickUp)",
    ]
    comments = comment_texts(nexus, task["id"])
    assert len(comments) == 5, comments  # link, acknowledgement, plan, the Slack reply, Jane's
    assert sum("Check mobile too" in c for c in comments) == 1
    assert len(slack.roots(team.channel_id)) == 1
    assert agent_log.output().count("no CONTEXT_UPDATE handler") == 2  # the Slack reply and Jane's comment
