"""Usage rows written after the answer, in batches: the database commit is the costliest step of a
model call, and neither the agent nor the next agent should wait for it.

Calls finished while a batch is being written go into the next one, so under load one commit carries
many rows and at rest each row is written at once. A batch is one statement on the writer's own
connection (:class:`~oblivion_nexus.stores.bulk.BulkInsert`), whose commits do not wait for the WAL
flush (``synchronous_commit=off``): a PostgreSQL crash may lose the rows of its last moments, which
budgets tolerate (the provider's bill stays the record of money). A batch that fails is tried once
more on a fresh connection (the first may have been closed by a database restart), then logged.

A budget check first waits for the agent's rows still pending on this replica
(:meth:`UsageWriter.settled`), so an agent's own calls are always seen by its next one here; across
replicas the lag is the few milliseconds of a commit.
"""

from __future__ import annotations

import asyncio
import logging

from oblivion_nexus.services.models import spending
from oblivion_nexus.stores import tables as t
from oblivion_nexus.stores.bulk import BulkInsert
from oblivion_nexus.stores.db import DatabaseError

logger = logging.getLogger(__name__)

# A batch commits in milliseconds; at shutdown, a database that takes longer is down.
CLOSE_SECONDS = 5.0
_COLUMNS = (
    "day",
    "workgroup",
    "agent",
    "agent_id",
    "task_id",
    "provider",
    "model",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
)


def _row(call: spending.ModelCall) -> tuple[object, ...]:
    return (
        call.day,
        call.workgroup,
        call.agent,
        call.agent_id,
        call.task_id,
        call.provider,
        call.model,
        call.prompt_tokens,
        call.completion_tokens,
        call.cost_usd,
    )


class UsageWriter:
    def __init__(self, database_url: str) -> None:
        self._rows = BulkInsert(
            database_url,
            t.Base.metadata.tables[t.ModelUsage.__tablename__],
            _COLUMNS,
            synchronous_commit=False,
        )
        self._queue: list[tuple[spending.ModelCall, asyncio.Future[None]]] = []
        self._pending: dict[int, set[asyncio.Future[None]]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def add(self, call: spending.ModelCall) -> None:
        written: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((call, written))
        pending = self._pending.setdefault(call.agent_id, set())
        pending.add(written)

        def forget(done: asyncio.Future[None]) -> None:
            pending.discard(done)
            if not pending and self._pending.get(call.agent_id) is pending:
                del self._pending[call.agent_id]

        written.add_done_callback(forget)
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())

    async def settled(self, agent_id: int) -> None:
        """Return once every call of this agent added so far is written (or failed to be)."""
        pending = self._pending.get(agent_id)
        if pending:
            await asyncio.wait(set(pending))

    async def aclose(self) -> None:
        """Write what is queued (for at most ``CLOSE_SECONDS``), then stop."""
        if self._task is not None:
            pending = [written for _, written in self._queue]
            if pending:
                await asyncio.wait(pending, timeout=CLOSE_SECONDS)
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._rows.aclose()

    async def _write(self, calls: list[spending.ModelCall]) -> None:
        try:
            await self._rows.insert([_row(call) for call in calls])
        except DatabaseError as e:
            logger.error("could not record %d model calls: %s", len(calls), e)
        except Exception:
            logger.exception("could not record %d model calls", len(calls))

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._queue = self._queue, []
            if not batch:
                continue
            await self._write([call for call, _ in batch])
            for _, written in batch:
                if not written.done():
                    written.set_result(None)
