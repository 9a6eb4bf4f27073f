"""``oblivion nexus worker`` killed with SIGKILL mid-flow: every task still gets exactly one root message,
one link comment and one TASK_ASSIGNED, and the dead worker's jobs come back within the stalled-job
window of the default settings (5 s locks, checked every 3 s), not BullMQ's 60 s."""

from __future__ import annotations

import asyncio
import collections
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.support.processes import oblivion_executable
from tests.support.taskflow import (
    ALIAS,
    LIST_ID,
    FlowStack,
    add_clickup_webhook,
    inbox_frames,
    register_team,
    settle,
    worker_env,
)
from tests.support.waiting import eventually

TASKS = 40
# Default lock (5 s) + two stalled checks (3 s each) + process start-up, with room for a slow machine.
RECOVERY_BOUND_SECONDS = 20.0


# The worker runs with the default stalled-job settings.
_DEFAULTED = {"OBLIVION_WORKER_LOCK_SECONDS", "OBLIVION_WORKER_STALLED_CHECK_SECONDS"}


def start_worker(stack: FlowStack, secret_registry: Any) -> tuple[subprocess.Popen[bytes], Path]:
    with tempfile.NamedTemporaryFile(prefix="worker-", suffix=".log", delete=False) as log:
        path = Path(log.name)
    secret_registry.log_files.append(path)
    with path.open("wb") as out:
        proc = subprocess.Popen(
            [oblivion_executable(), "nexus", "worker"],
            env=worker_env(stack, defaulted=_DEFAULTED),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return proc, path


def roots_by_task(stack: FlowStack) -> collections.Counter[str]:
    counts: collections.Counter[str] = collections.Counter()
    for message in stack.slack.messages(stack.channel_id):
        payload = (message.get("metadata") or {}).get("event_payload") or {}
        if "thread_ts" not in message and payload.get("task_id"):
            counts[payload["task_id"]] += 1
    return counts


async def assigned_tasks(stack: FlowStack) -> collections.Counter[str]:
    frames = await inbox_frames(stack)
    return collections.Counter(f["data"]["task_id"] for f in frames if f["type"] == "TASK_ASSIGNED")


async def test_killed_worker_leaves_every_task_with_exactly_one_thread(
    stack: FlowStack, secret_registry: Any
) -> None:
    await register_team(stack)
    add_clickup_webhook(stack)
    first, first_log = start_worker(stack, secret_registry)
    second = None
    try:
        created = await asyncio.gather(
            *(
                stack.clickup.create_task(list_id=LIST_ID, name=f"Task {n}", description=f"@{ALIAS} #{n}")
                for n in range(TASKS)
            )
        )
        task_ids = {task["id"] for task, _ in created}
        await eventually(lambda: len(roots_by_task(stack)) >= 3, timeout=30, what="first root messages")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        killed_at = time.monotonic()
        second, _ = start_worker(stack, secret_registry)
        await eventually(
            lambda: _all_assigned(stack, task_ids), timeout=60, what=f"{TASKS} tasks assigned after the crash"
        )
        recovered_in = time.monotonic() - killed_at
        await settle(stack)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(15)
    roots = roots_by_task(stack)
    assert set(roots) == task_ids
    assert set(roots.values()) == {1}, {t: n for t, n in roots.items() if n != 1}
    for task_id in task_ids:
        links = [c for c in stack.clickup.comments[task_id] if "Slack thread: " in str(c.get("comment_text"))]
        assert len(links) == 1, (task_id, links)
    assigned = await assigned_tasks(stack)
    assert set(assigned) == task_ids
    assert set(assigned.values()) == {1}
    assert recovered_in < RECOVERY_BOUND_SECONDS, first_log.read_text()[-2000:]


async def _all_assigned(stack: FlowStack, task_ids: set[str]) -> bool:
    return set(await assigned_tasks(stack)) == task_ids
