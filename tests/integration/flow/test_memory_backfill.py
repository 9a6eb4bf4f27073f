"""``oblivion memory backfill``: a project's history from before its channel was mapped becomes
searchable; rate limits are waited out as Slack says, and a second run duplicates nothing."""

from __future__ import annotations

import asyncio

from oblivion_nexus.worker import running_worker
from tests.fakes import clickup_payloads as shapes
from tests.secret_logs import SecretRegistry
from tests.support.memory import backfill_cli_env, build_memory_world, found_texts
from tests.support.processes import run_oblivion
from tests.support.taskflow import LIST_ID, PROJECT, WORKGROUP, FlowStack
from tests.support.waiting import eventually

OLD = "Before the project was mapped: the staging cluster lives in eu-west-1"
REPLY = "And its database snapshots are kept for nine days"
COMMENT = "The vendor contract renews every March"
DESCRIPTION = "Move the reports job to the new scheduler"


async def test_backfill_makes_history_searchable_waits_out_rate_limits_and_never_duplicates(
    stack: FlowStack, secret_registry: SecretRegistry, nexus_env: dict[str, str]
) -> None:
    world = await build_memory_world(stack, secret_registry)
    root = stack.slack.post_as_user(stack.channel_id, OLD)
    stack.slack.post_as_user(stack.channel_id, REPLY, thread_ts=root["ts"])
    task = stack.clickup.add_task(list_id=LIST_ID, name="Reports job", description=DESCRIPTION)
    stack.clickup.add_comment(task["id"], COMMENT, author=shapes.user(321, "Jane"))
    stack.slack.rate_limit("conversations.history", times=1, retry_after=1)
    env = backfill_cli_env(stack, nexus_env)
    async with running_worker(stack.settings):
        first = await asyncio.to_thread(
            run_oblivion, "memory", "backfill", "--workgroup", WORKGROUP, "--project", PROJECT, env=env
        )
        assert first.returncode == 0, first.stdout + first.stderr
        assert "rate limited: waiting 1 s for conversations.history" in first.stdout
        assert "done: 2 messages, 1 threads read (0 to go), 1 tasks, 1 comments" in first.stdout

        async def all_found() -> bool:
            texts = await found_texts(world.auth_agent, "history of the project", limit=20)
            wanted = (OLD, REPLY, COMMENT, DESCRIPTION)
            return all(any(w in t for t in texts) for w in wanted)

        await eventually(all_found, what="the backfilled history searchable")
        again = await asyncio.to_thread(
            run_oblivion, "memory", "backfill", "--workgroup", WORKGROUP, "--project", PROJECT, env=env
        )
        assert again.returncode == 0, again.stdout + again.stderr
        texts = await found_texts(world.auth_agent, "history of the project", limit=20)
        assert len(texts) == len(set(texts)) == 4, texts
        assert await found_texts(world.billing_agent, "staging cluster snapshots") == []

    missing = await asyncio.to_thread(
        run_oblivion, "memory", "backfill", "--workgroup", WORKGROUP, "--project", "nope", env=env
    )
    assert missing.returncode == 1
    assert "not registered" in missing.stderr
