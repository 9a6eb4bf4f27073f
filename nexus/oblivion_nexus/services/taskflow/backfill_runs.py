"""Who runs a project's Memory Bank backfill, one at a time: the admin route's queued job in the
worker, or ``oblivion memory backfill`` in its own process.

The route queues a job on ``memory-backfill``, a queue of its own, so a backfill that waits minutes
for Slack's rate limit never takes a slot from the webhooks; it is durable, so a worker that stops or
dies mid-way leaves the job to the next one, which resumes from the progress in ``memory_backfills``.
Whoever runs it holds the project's lease (a Redis key with a TTL, renewed while it runs; see
:mod:`oblivion_nexus.stores.leases`): a second start is refused naming the holder (409 for the route).
The route takes the lease itself as ``queued`` until a worker takes the job over, so the CLI cannot
slip in between; a queued lease that no worker took expires after :data:`QUEUED_TTL_SECONDS`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from oblivion_nexus.errors import ServiceError
from oblivion_nexus.integrations.clickup import ClickUpApiError
from oblivion_nexus.integrations.slack import SlackApiError
from oblivion_nexus.resources import Resources
from oblivion_nexus.services.taskflow.context import FlowContext
from oblivion_nexus.services.taskflow.errors import MissingSetting
from oblivion_nexus.services.taskflow.memory_backfill import BackfillError, Progress, backfill_project
from oblivion_nexus.settings import NexusSettings
from oblivion_nexus.stores import tables as t
from oblivion_nexus.stores.leases import Lease
from oblivion_nexus.stores.queue import BACKFILL_QUEUE_NAME, QueueSettings, WebhookQueue

logger = logging.getLogger(__name__)

# A holder that dies is replaced within this long; renewed every third of it.
LEASE_TTL_SECONDS = 30.0
# How long a queued request keeps the CLI out while no worker takes its job.
QUEUED_TTL_SECONDS = 300.0
# How often a job whose project another runner holds looks whether the lease is free.
_LEASE_POLL_SECONDS = 5.0
QUEUED = "queued"
RUNNING = "running"
BACKFILL_JOB = "backfill"
# A failed attempt (PostgreSQL or Redis down, a vendor's 5xx) is retried this often, backing off from
# ten seconds; each retry resumes where the last one stopped.
_ATTEMPTS = 5
_BACKOFF_MS = 10_000
# Slack errors no retry of the backfill fixes.
_PERMANENT_SLACK_ERRORS = {
    "channel_not_found",
    "not_in_channel",
    "is_archived",
    "invalid_auth",
    "not_authed",
    "missing_scope",
    "account_inactive",
    "token_revoked",
}


class BackfillBusy(ServiceError):
    """A backfill of the project is queued or running already; ``holder`` says where."""

    status = 409

    def __init__(self, workgroup: str, project: str, holder: dict[str, Any]) -> None:
        super().__init__(
            f"a backfill of {workgroup}/{project} is already {holder.get('kind')}: {holder.get('holder')}"
        )
        self.holder = holder

    def body(self) -> dict[str, Any]:
        return {"detail": self.detail, "holder": _holder_view(self.holder)}


def lease_key(prefix: str, workgroup: str, project: str) -> str:
    return f"{prefix}:memory:backfill-lease:{workgroup}/{project}"


def running_lease(redis: aioredis.Redis, prefix: str, workgroup: str, project: str, holder: str) -> Lease:
    """The lease a backfill holds while it runs (the worker's job or the CLI)."""
    return Lease(
        redis, lease_key(prefix, workgroup, project), holder=holder, kind=RUNNING, ttl=LEASE_TTL_SECONDS
    )


def this_process(what: str) -> str:
    return f"{what} on {socket.gethostname()} (pid {os.getpid()})"


class BackfillQueue(WebhookQueue):
    """The producer of ``memory-backfill``: one job per project at a time (its id), gone when it ends,
    so the next request queues a new one."""

    def __init__(self, settings: NexusSettings) -> None:
        super().__init__(
            QueueSettings(
                redis_url=settings.redis.url,
                prefix=settings.redis.prefix,
                dedupe_seconds=0,
                attempts=_ATTEMPTS,
                enqueue_timeout=settings.queue.enqueue_timeout_seconds,
            ),
            name=BACKFILL_QUEUE_NAME,
        )

    def job_options(self, job_id: str) -> dict[str, Any]:
        return {
            "jobId": job_id,
            "attempts": _ATTEMPTS,
            "backoff": {"type": "exponential", "delay": _BACKOFF_MS},
            "removeOnComplete": True,
            "removeOnFail": True,  # its reason stays in memory_backfills
        }


async def _project_id(resources: Resources, workgroup: str, project: str) -> int:
    async with resources.sessionmaker() as session:
        found = await session.scalar(
            select(t.Project.id).where(t.Project.workgroup == workgroup, t.Project.name == project)
        )
    if found is None:
        raise BackfillError(f"project {workgroup}/{project} is not registered")
    return int(found)


async def request_backfill(
    resources: Resources, queue: BackfillQueue, workgroup: str, project: str
) -> dict[str, Any]:
    """Queue a backfill of the project for the worker; its state as :func:`backfill_status` says.

    Raises :class:`BackfillBusy` when one is queued or running. A finished backfill asked again reads
    everything again (nothing is duplicated); a stopped or failed one resumes."""
    project_id = await _project_id(resources, workgroup, project)
    prefix = resources.settings.redis.prefix
    lease = Lease(
        resources.redis,
        lease_key(prefix, workgroup, project),
        holder="the admin API's request, waiting for a worker to take its job",
        kind=QUEUED,
        ttl=QUEUED_TTL_SECONDS,
    )
    held = await lease.acquire()
    if held is not None:
        raise BackfillBusy(workgroup, project, held)
    try:
        async with resources.sessionmaker() as session:
            stored = await session.get(t.MemoryBackfill, project_id)
            progress = dict(stored.progress) if stored is not None and stored.state != "done" else {}
            progress["state"] = QUEUED
            values: dict[str, Any] = {
                "state": QUEUED,
                "progress": progress,
                "last_error": None,
                "not_before": None,
                "finished_at": None,
                "requested_at": datetime.now(UTC),
                "updated_at": datetime.now(UTC),
            }
            statement = insert(t.MemoryBackfill).values(project_id=project_id, **values)
            await session.execute(
                statement.on_conflict_do_update(index_elements=[t.MemoryBackfill.project_id], set_=values)
            )
            await session.commit()
        await queue.add(BACKFILL_JOB, f"{workgroup}/{project}", {"workgroup": workgroup, "project": project})
    except BaseException:
        await lease.release()
        raise
    logger.info("backfill of %s/%s queued", workgroup, project)
    return await backfill_status(resources, workgroup, project)


async def backfill_status(resources: Resources, workgroup: str, project: str) -> dict[str, Any]:
    """The project's backfill as an administrator sees it: state, counts, cursors, a wait for a rate
    limit, who holds it, the last error."""
    project_id = await _project_id(resources, workgroup, project)
    async with resources.sessionmaker() as session:
        stored = await session.get(t.MemoryBackfill, project_id)
    holder = await Lease.read(resources.redis, lease_key(resources.settings.redis.prefix, workgroup, project))
    view: dict[str, Any] = {"workgroup": workgroup, "project": project}
    if stored is None:
        return {**view, "state": "none", "lease": _holder_view(holder)}
    progress = dict(stored.progress or {})
    state = stored.state
    if state == RUNNING and holder is None:
        state = "interrupted"  # its process stopped; the next run (queued job or CLI) resumes it
    now = datetime.now(UTC)
    waiting = progress.get("rate_limited")
    rate_limited = None
    if state == RUNNING and isinstance(waiting, dict) and stored.not_before and stored.not_before > now:
        rate_limited = {
            "for": waiting.get("for"),
            "seconds": waiting.get("seconds"),
            "until": stored.not_before.isoformat(),
        }
    threads = progress.get("threads")
    return {
        **view,
        "state": state,
        "counts": {
            "messages": int(progress.get("messages", 0)),
            "threadsRead": int(progress.get("threads_read", 0)),
            "threadsToRead": len(threads) if isinstance(threads, list) else 0,
            "tasks": int(progress.get("tasks", 0)),
            "comments": int(progress.get("comments", 0)),
        },
        "cursor": {
            "slackHistory": progress.get("cursor"),
            "slackHistoryDone": bool(progress.get("history_done")),
            "slackDone": bool(progress.get("slack_done")),
            "clickupPage": int(progress.get("clickup_page", 0)),
            "clickupDone": bool(progress.get("clickup_done")),
        },
        "waitingForRateLimit": rate_limited,
        "lease": _holder_view(holder),
        "lastError": stored.last_error,
        "requestedAt": _iso(stored.requested_at),
        "updatedAt": _iso(stored.updated_at),
        "finishedAt": _iso(stored.finished_at),
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _holder_view(holder: dict[str, Any] | None) -> dict[str, Any] | None:
    if holder is None:
        return None
    since = holder.get("since")
    return {
        "holder": holder.get("holder"),
        "kind": holder.get("kind"),
        "since": datetime.fromtimestamp(float(since), UTC).isoformat() if since else None,
    }


def _permanent(error: Exception) -> bool:
    if isinstance(error, BackfillError | MissingSetting):
        return True
    if isinstance(error, SlackApiError):
        return error.error in _PERMANENT_SLACK_ERRORS
    if isinstance(error, ClickUpApiError):
        return 400 <= error.status < 500 and error.status != 429
    return False


async def run_backfill_job(flow: FlowContext, data: dict[str, Any]) -> None:
    """The worker's side of a queued backfill (raises to retry).

    While another runner holds the lease (the CLI, or a worker that died and whose lease has not
    expired yet) the job waits for it in its slot, looking every few seconds, rather than being
    delayed in BullMQ: the job keeps its place, and a dead holder is replaced within its TTL."""
    workgroup, project = str(data["workgroup"]), str(data["project"])
    resources = flow.resources
    lease = running_lease(
        resources.redis, resources.settings.redis.prefix, workgroup, project, this_process("the worker")
    )
    held = await lease.acquire(take_over=QUEUED)
    if held is not None:
        logger.info("backfill of %s/%s waits: %s holds it", workgroup, project, held.get("holder"))
    while held is not None:
        await asyncio.sleep(_LEASE_POLL_SECONDS)
        held = await lease.acquire(take_over=QUEUED)
    try:
        project_id = await _project_id(resources, workgroup, project)
        async with resources.sessionmaker() as session:
            stored = await session.get(t.MemoryBackfill, project_id)
        if stored is not None and stored.state == "done":
            logger.info(
                "backfill of %s/%s: another run finished it since it was asked for", workgroup, project
            )
            return
        async with lease.kept():
            progress = await backfill_project(flow, workgroup, project, _log_waits(workgroup, project))
    except Exception as e:
        if not _permanent(e):
            raise
        logger.error("backfill of %s/%s failed and is not retried: %s", workgroup, project, e)
        return
    finally:
        await lease.release()
    logger.info(
        "backfill of %s/%s done: %d messages, %d tasks, %d comments",
        workgroup,
        project,
        progress["messages"],
        progress["tasks"],
        progress["comments"],
    )


def _log_waits(workgroup: str, project: str) -> Progress:
    def say(progress: dict[str, Any]) -> None:
        if "waiting" in progress:
            logger.info(
                "backfill of %s/%s: rate limited, waiting %.0f s for %s",
                workgroup,
                project,
                progress["waiting"],
                progress["for"],
            )

    return say
