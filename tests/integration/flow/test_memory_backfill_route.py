"""``POST /internal/v1/workgroups/{wg}/projects/{project}/memory/backfill`` queues a project's
backfill for the worker and ``GET`` shows how far it got: counts, cursors, a wait for Slack's rate
limit, who holds it. One backfill of a project at a time, whoever started it (the route or
``oblivion memory backfill``); a worker stopped mid-way leaves it to the next, which resumes."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import httpx

from oblivion_nexus.services.taskflow.backfill_runs import LEASE_TTL_SECONDS
from oblivion_nexus.worker import running_worker
from tests.fakes import clickup_payloads as shapes
from tests.secret_logs import SecretRegistry
from tests.support.memory import backfill_cli_env, build_memory_world, found_texts
from tests.support.processes import Proc, oblivion_executable, run_oblivion
from tests.support.taskflow import LIST_ID, PROJECT, WORKGROUP, FlowStack, worker_env
from tests.support.waiting import eventually

ROUTE = f"/internal/v1/workgroups/{WORKGROUP}/projects/{PROJECT}/memory/backfill"
FIRST = "The nightly export writes to bucket reports-eu"
FIRST_REPLY = "It keeps thirty days of exports"
SECOND = "Error E-4412 means the export token expired"
SECOND_REPLY = "Rotate it in the vault, then rerun the export"
DESCRIPTION = "Move the export job to the new scheduler"
COMMENT = "The scheduler migration is planned for May"


async def _call(stack: FlowStack, method: str, path: str = ROUTE, **kwargs: Any) -> httpx.Response:
    headers = kwargs.pop("headers", stack.nexus.admin_headers())
    return await stack.http.request(method, stack.nexus.url + path, headers=headers, **kwargs)


async def _backfill(stack: FlowStack) -> dict[str, Any]:
    response = await _call(stack, "GET")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_queued_backfill_waits_out_slack_is_exclusive_resumes_in_the_next_worker_and_reports(
    stack: FlowStack, secret_registry: SecretRegistry, nexus_env: dict[str, str]
) -> None:
    world = await build_memory_world(stack, secret_registry)
    assert (await _backfill(stack))["state"] == "none"
    first = stack.slack.post_as_user(stack.channel_id, FIRST)
    stack.slack.post_as_user(stack.channel_id, FIRST_REPLY, thread_ts=first["ts"])
    second = stack.slack.post_as_user(stack.channel_id, SECOND)
    stack.slack.post_as_user(stack.channel_id, SECOND_REPLY, thread_ts=second["ts"])
    task = stack.clickup.add_task(list_id=LIST_ID, name="Export job", description=DESCRIPTION)
    stack.clickup.add_comment(task["id"], COMMENT, author=shapes.user(321, "Jane"))
    # The first thread's replies are refused for longer than this worker will live.
    stack.slack.rate_limit("conversations.replies", times=1, retry_after=120)

    queued = await _call(stack, "POST")
    assert queued.status_code == 202, queued.text
    assert queued.json()["state"] == "queued"
    assert queued.json()["lease"]["kind"] == "queued"
    # Queued and no worker yet: a second start is refused, naming the request that holds it.
    again = await _call(stack, "POST")
    assert again.status_code == 409
    assert again.json()["holder"]["kind"] == "queued"

    async with running_worker(stack.settings):

        async def rate_limited() -> dict[str, Any] | None:
            body = await _backfill(stack)
            return body if body["waitingForRateLimit"] else None

        waiting = await eventually(rate_limited, timeout=30, what="the backfill waiting for Slack")
        assert waiting["state"] == "running"
        assert waiting["waitingForRateLimit"]["for"] == "conversations.replies"
        assert waiting["waitingForRateLimit"]["seconds"] == 120
        assert waiting["counts"] == {
            "messages": 2,
            "threadsRead": 0,
            "threadsToRead": 2,
            "tasks": 0,
            "comments": 0,
        }
        assert waiting["cursor"]["slackHistoryDone"] is True
        assert waiting["lease"]["kind"] == "running"
        assert "the worker on" in waiting["lease"]["holder"]

        busy = await _call(stack, "POST")
        assert busy.status_code == 409
        assert busy.json()["holder"]["holder"] == waiting["lease"]["holder"]
        assert "already running" in busy.json()["detail"]
        cli = await asyncio.to_thread(
            run_oblivion,
            "memory",
            "backfill",
            "--workgroup",
            WORKGROUP,
            "--project",
            PROJECT,
            env=backfill_cli_env(stack, nexus_env),
        )
        assert cli.returncode == 1, cli.stdout + cli.stderr
        assert "is running already: the worker on" in cli.stderr

    stopped = await _backfill(stack)
    assert stopped["state"] == "interrupted"
    assert stopped["lease"] is None
    assert stopped["counts"]["threadsToRead"] == 2

    async with running_worker(stack.settings):

        async def finished() -> dict[str, Any] | None:
            body = await _backfill(stack)
            return body if body["state"] == "done" else None

        done = await eventually(finished, timeout=60, what="the next worker to resume and finish it")
        assert done["counts"] == {
            "messages": 4,
            "threadsRead": 2,
            "threadsToRead": 0,
            "tasks": 1,
            "comments": 1,
        }
        assert done["waitingForRateLimit"] is None
        assert done["lease"] is None
        assert done["lastError"] is None
        assert done["finishedAt"] is not None
        wanted = (FIRST, FIRST_REPLY, SECOND, SECOND_REPLY, DESCRIPTION, COMMENT)

        async def all_found() -> list[str] | None:
            texts = await found_texts(world.auth_agent, "the export job", limit=20)
            return texts if all(any(w in t for t in texts) for w in wanted) else None

        texts = await eventually(all_found, timeout=30, what="the backfilled history searchable")
        assert len(texts) == len(set(texts)) == len(wanted)

        # Asked again once done: everything is read again and nothing is duplicated.
        assert (await _call(stack, "POST")).status_code == 202
        await eventually(finished, timeout=60, what="the second backfill done")
        texts = await found_texts(world.auth_agent, "the export job", limit=20)
        assert len(texts) == len(set(texts)) == len(wanted)
        assert await found_texts(world.billing_agent, "export token vault") == []


async def test_backfill_routes_need_the_admin_token_and_a_registered_project(
    stack: FlowStack, secret_registry: SecretRegistry
) -> None:
    await build_memory_world(stack, secret_registry)
    assert (await _call(stack, "POST", headers={})).status_code == 401
    assert (await _call(stack, "GET", headers={"Authorization": "Bearer nope"})).status_code in (401, 403)
    missing = f"/internal/v1/workgroups/{WORKGROUP}/projects/nope/memory/backfill"
    for method in ("POST", "GET"):
        answer = await _call(stack, method, missing)
        assert (answer.status_code, answer.json()) == (
            404,
            {"detail": f"project {WORKGROUP}/nope is not registered"},
        )


async def test_a_backfill_that_cannot_succeed_ends_failed_with_its_reason_and_can_be_asked_again(
    stack: FlowStack, secret_registry: SecretRegistry
) -> None:
    await build_memory_world(stack, secret_registry)
    gone = {"clickupListId": "901999", "slackChannelId": "C0GONE00001"}
    await stack.put(f"/workgroups/{WORKGROUP}/projects/ghost", gone)
    route = f"/internal/v1/workgroups/{WORKGROUP}/projects/ghost/memory/backfill"
    assert (await _call(stack, "POST", route)).status_code == 202
    async with running_worker(stack.settings):

        async def failed() -> dict[str, Any] | None:
            body = (await _call(stack, "GET", route)).json()
            return body if body["state"] == "failed" else None

        body = await eventually(failed, timeout=30, what="the backfill to fail")
    assert "channel_not_found" in body["lastError"]
    assert body["lease"] is None
    assert body["finishedAt"] is None
    again = await _call(stack, "POST", route)
    assert again.status_code == 202, again.text
    assert again.json()["state"] == "queued"
    assert again.json()["lastError"] is None


async def test_a_killed_workers_backfill_is_resumed_by_the_next_once_the_dead_ones_lease_expires(
    stack: FlowStack, secret_registry: SecretRegistry
) -> None:
    world = await build_memory_world(stack, secret_registry)
    first = stack.slack.post_as_user(stack.channel_id, FIRST)
    stack.slack.post_as_user(stack.channel_id, FIRST_REPLY, thread_ts=first["ts"])
    stack.slack.rate_limit("conversations.replies", times=1, retry_after=120)
    assert (await _call(stack, "POST")).status_code == 202
    dying = Proc(
        "backfill-worker",
        [oblivion_executable(), "nexus", "worker"],
        worker_env(stack),
        Path(tempfile.gettempdir()),
    )
    secret_registry.add_log_file(dying.log_path)
    dying.start()
    try:

        async def rate_limited() -> dict[str, Any] | None:
            body = await _backfill(stack)
            return body if body["waitingForRateLimit"] else None

        waiting = await eventually(
            rate_limited, timeout=60, what="the worker process waiting for Slack", watch=[dying]
        )
        holder = waiting["lease"]["holder"]
        assert f"(pid {dying.pid})" in holder
        dying.kill()
        # Nobody released the dead worker's lease: it is shown until it expires, and nothing else runs.
        assert (await _backfill(stack))["lease"]["holder"] == holder
        async with running_worker(stack.settings):

            async def finished() -> dict[str, Any] | None:
                body = await _backfill(stack)
                return body if body["state"] == "done" else None

            done = await eventually(
                finished, timeout=LEASE_TTL_SECONDS + 40, what="the next worker to take over and finish"
            )
            texts = await eventually(
                lambda: _all_of(world, (FIRST, FIRST_REPLY)), timeout=30, what="the history searchable"
            )
    finally:
        dying.stop()
    assert done["counts"]["messages"] == 2
    assert done["counts"]["threadsRead"] == 1
    assert len(texts) == len(set(texts)) == 2


async def _all_of(world: Any, wanted: tuple[str, ...]) -> list[str] | None:
    texts = await found_texts(world.auth_agent, "the nightly export", limit=20)
    return texts if all(any(w in t for t in texts) for w in wanted) else None
