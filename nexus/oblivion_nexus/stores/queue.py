"""The durable queues of Nexus: BullMQ's ``webhook-processing`` (webhook routes → worker) and
``rag-ingestion`` (the task flow and the agents' messages → the Memory Bank).

A webhook is answered 2xx only once its job is in Redis. The job id is the delivery's de-duplication
key (ClickUp webhook id + history item id, Slack event id), so a redelivery while the job waits, runs,
or is remembered as finished collapses into the first one; finished ids are kept for
``OBLIVION_WEBHOOK_DEDUPE_SECONDS``, far longer than ClickUp's five and Slack's three retries.

Redis trouble must turn into a quick 503 (so the sender retries), never a hang: the producer uses
its own client with short socket timeouts and no retry loop, and every add has a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from bullmq import Queue, Worker
from bullmq.custom_errors import DelayedError
from redis.exceptions import RedisError

from oblivion_nexus.errors import NexusError

logger = logging.getLogger(__name__)

QUEUE_NAME = "webhook-processing"
# Its own queue, so embedding never delays the thread and a Memory Bank outage retries only memory.
INGESTION_QUEUE_NAME = "rag-ingestion"
# Memory Bank backfills: hours of waiting for Slack's rate limit, so never in a webhook's slot.
BACKFILL_QUEUE_NAME = "memory-backfill"
# BullMQ refuses ':' in custom job ids (it separates key parts); anything odd becomes '_'.
_UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9_.\-]")
_MAX_JOB_ID = 200
# Redis connections of one producer: enough for a burst of webhooks on one API process.
_MAX_CONNECTIONS = 32
# Failed jobs stay a week for inspection, then go.
_FAILED_RETENTION_SECONDS = 7 * 24 * 3600


class QueueError(NexusError):
    """The queue (Redis) could not take or give a job."""


class QueueUnavailable(QueueError):
    """Redis did not answer in time or refused: answer 503 so the sender retries."""


def job_id_for(source: str, dedupe_key: str) -> str:
    """The BullMQ job id of a delivery: its source and de-duplication key, made id-safe."""
    return _UNSAFE_ID_CHARS.sub("_", f"{source}-{dedupe_key}")[:_MAX_JOB_ID]


@dataclass(frozen=True, slots=True)
class QueueSettings:
    redis_url: str
    prefix: str
    dedupe_seconds: int
    attempts: int
    enqueue_timeout: float


def bull_prefix(redis_prefix: str) -> str:
    """BullMQ's key prefix under the installation's Redis prefix."""
    return f"{redis_prefix}:bull"


class WebhookQueue:
    """The producer side of a queue: ``webhook-processing`` (the webhook routes) unless ``name`` says."""

    def __init__(self, settings: QueueSettings, *, name: str = QUEUE_NAME) -> None:
        self._settings = settings
        self.name = name
        timeout = settings.enqueue_timeout
        self._redis = aioredis.Redis.from_url(
            settings.redis_url,
            decode_responses=True,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            retry_on_timeout=False,
            max_connections=_MAX_CONNECTIONS,
        )
        # redis-py refuses (rather than waits) beyond its pool; a burst of webhooks queues here instead.
        self._slots = asyncio.Semaphore(_MAX_CONNECTIONS)
        self._queue = Queue(name, {"connection": self._redis, "prefix": bull_prefix(settings.prefix)})

    def __repr__(self) -> str:
        return f"WebhookQueue(name={self.name!r})"

    def job_options(self, job_id: str) -> dict[str, Any]:
        return {
            "jobId": job_id,
            "attempts": self._settings.attempts,
            "backoff": {"type": "exponential", "delay": 1000},
            "removeOnComplete": {"age": self._settings.dedupe_seconds},
            "removeOnFail": {"age": _FAILED_RETENTION_SECONDS},
        }

    async def add(self, source: str, dedupe_key: str, data: dict[str, Any]) -> str:
        """Queue a job durably (or find its twin already there); returns the job id."""
        job_id = job_id_for(source, dedupe_key)
        try:
            async with asyncio.timeout(self._settings.enqueue_timeout), self._slots:
                await self._queue.add(source, data, self.job_options(job_id))
        except (RedisError, OSError, TimeoutError) as e:
            raise QueueUnavailable(f"could not queue job {job_id}: {type(e).__name__}") from e
        return job_id

    async def counts(self) -> dict[str, int]:
        """Jobs per state (waiting, active, delayed, completed, failed)."""
        try:
            raw = await self._queue.getJobCounts("waiting", "active", "delayed", "completed", "failed")
        except (RedisError, OSError) as e:
            raise QueueUnavailable(f"could not count jobs: {type(e).__name__}") from e
        return {str(k): int(v) for k, v in dict(raw).items()}

    async def close(self) -> None:
        try:
            await self._queue.close()
            await self._redis.aclose()
        except (RedisError, OSError) as e:
            logger.debug("closing the queue: %s", type(e).__name__)


class Delayed(QueueError):
    """Raised by a job handler that must run again later (e.g. Slack's Retry-After)."""

    def __init__(self, seconds: float, reason: str) -> None:
        super().__init__(f"job delayed {seconds:.1f} s: {reason}")
        self.seconds = seconds
        self.reason = reason


JobHandler = Callable[[str, dict[str, Any]], Awaitable[None]]


# How long closing a consumer may take (its running jobs included) before it is left to finish alone.
CLOSE_TIMEOUT_SECONDS = 30.0
# A delayed job's wake-up comes this long after it is due, so the job is promoted when it is read.
_WAKE_MARGIN_SECONDS = 0.05


@dataclass(frozen=True, slots=True)
class ConsumerSettings:
    redis_url: str
    prefix: str
    concurrency: int
    lock_seconds: float
    stalled_check_seconds: float


class Consumer:
    """A BullMQ worker consuming one queue, whose :meth:`close` leaves nothing running or connected.

    bullmq's ``Worker`` runs its loop as a task that nothing awaits, and its ``close()`` releases the
    two Redis clients (each holding one connection) without waiting for that loop, its stalled-job
    timer or the jobs the loop took last: whatever of them ran after the release connected a client
    again, which stayed open until the garbage collector warned of an unclosed client. A worker
    stopped right after it started lost both clients: its loop began after the release and named
    its connections. Here the loop is this object's task and closing goes in order: a loop not yet
    consuming is cancelled (redis-py may swallow that while it connects, so the worker is told to
    stop all the same), the loop, timer, jobs and wake-ups are waited for, and only then are the
    clients released (again, since bullmq's own release came too early).
    """

    def __init__(
        self, queue: str, process: Callable[[Any, str], Awaitable[None]], options: dict[str, Any]
    ) -> None:
        self.worker = Worker(queue, process, {**options, "autorun": False})
        self._loop = asyncio.create_task(self.worker.run(), name=f"bullmq worker of {queue}")
        self._loop.add_done_callback(self._loop_ended)
        self._wakers: set[asyncio.Task[None]] = set()
        self._closing: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"Consumer(queue={self.worker.name!r})"

    def _loop_ended(self, loop: asyncio.Task[None]) -> None:
        if loop.cancelled() or (error := loop.exception()) is None:
            return
        if self.worker.closing:  # e.g. closed while naming its connections: redis-py's KeyError
            logger.debug("the %s worker's loop ended while closing: %r", self.worker.name, error)
        else:
            logger.error("the %s worker stopped consuming: %r", self.worker.name, error)

    def wake_after(self, seconds: float) -> None:
        """Set the queue's wake-up marker in ``seconds`` (what adding a job does), unless closed by then."""
        task = asyncio.create_task(self._wake(seconds))
        self._wakers.add(task)
        task.add_done_callback(self._wakers.discard)

    async def _wake(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        with contextlib.suppress(RedisError, OSError, TypeError, KeyError):
            await self.worker.client.zadd(self.worker.keys["marker"], {"0": 0})

    def _still_running(self) -> list[asyncio.Future[Any]]:
        """The loop, its jobs and (once the loop is over) its stalled-job timer, if not done yet."""
        tasks: list[asyncio.Future[Any]] = [self._loop, *self.worker.processing]
        timer = getattr(self.worker, "stalledCheckTimer", None)
        if self._loop.done() and timer is not None:  # cancelled at the loop's end, not waited for
            tasks.append(timer._task)
        return [task for task in tasks if not task.done()]

    async def close(self, *, force: bool = False, within_seconds: float = CLOSE_TIMEOUT_SECONDS) -> None:
        """Stop taking jobs, let running ones finish (``force``: cancel them), release Redis.

        Returns within ``within_seconds`` whatever happens: a job that does not end, or a bullmq teardown
        that does not (its ``close`` waits on a shielded task and swallows cancellation), is logged
        as an error and left to finish on its own, rather than hanging the worker's shutdown.
        """
        closing = asyncio.create_task(self._close(force), name=f"closing the {self.worker.name} worker")
        self._closing = closing  # referenced while it runs, even when this wait is cut short
        done, _ = await asyncio.wait({closing}, timeout=within_seconds)
        if not done:
            logger.error(
                "the %s worker did not close within %g s (a job or bullmq's teardown still runs); "
                "leaving it to finish",
                self.worker.name,
                within_seconds,
            )
            return
        closing.result()

    async def _close(self, force: bool) -> None:
        if not self.worker.running:  # not begun (then it never will), or still naming its connections
            self._loop.cancel()
        await self.worker.close(force=force)  # the loop takes no job from now on
        while running := self._still_running():
            await asyncio.wait(running)
        for waker in self._wakers:  # no job is left that could add one
            waker.cancel()
        if self._wakers:
            await asyncio.wait(self._wakers)
        try:
            await self.worker.backend.close()
        except (RedisError, OSError) as e:
            logger.debug("releasing the %s worker's Redis: %s", self.worker.name, type(e).__name__)


def start_consumer(settings: ConsumerSettings, handle: JobHandler, *, queue: str = QUEUE_NAME) -> Consumer:
    """Consume ``queue`` with ``handle(name, data)`` until the returned consumer is closed.

    A job whose worker died (kill -9) loses its lock after ``lock_seconds`` and is back in the queue at
    the next stalled check, so within about ``lock_seconds + 2 * stalled_check_seconds``.

    A delayed job (:class:`Delayed`) is due again after its delay; when it is, this process also
    sets the queue's wake-up marker. The BullMQ worker should wake by itself at the delayed job's
    time, but its blocking wait for the marker outlives its timeout (bullmq 3.4.4 with redis-py's
    asyncio client): a job delayed on a quiet queue would otherwise wait for the next job added.
    """

    async def process(job: Any, token: str) -> None:
        try:
            await handle(str(job.name), dict(job.data or {}))
        except Delayed as e:
            logger.info("job %s: %s", job.id, e)
            await job.moveToDelayed(int(time.time() * 1000 + e.seconds * 1000), token)
            consumer.wake_after(e.seconds + _WAKE_MARGIN_SECONDS)
            raise DelayedError() from e
        except Exception as e:
            attempt = int(getattr(job, "attemptsMade", 0)) + 1
            logger.warning("job %s failed on attempt %d (BullMQ retries it): %r", job.id, attempt, e)
            raise

    lock_ms = int(settings.lock_seconds * 1000)
    options: dict[str, Any] = {
        "connection": settings.redis_url,
        "prefix": bull_prefix(settings.prefix),
        "concurrency": settings.concurrency,
        "lockDuration": lock_ms,
        "lockRenewTime": max(500, lock_ms // 2),
        "stalledInterval": int(settings.stalled_check_seconds * 1000),
        # Each crash of a worker counts as a stall; a job survives several before it is failed.
        "maxStalledCount": 10,
        "drainDelay": 1,
        "runRetryDelay": 1000,
    }
    consumer = Consumer(queue, process, options)
    return consumer
