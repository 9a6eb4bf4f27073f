"""Usage rows written after the answer, in batches: the database commit is the costliest step of a
model call, and neither the agent nor the next agent should wait for it.

Calls finished while a batch is being written go into the next one, so under load one commit carries
many rows and at rest each row is written at once. The writer has its own connection, on which
commits do not wait for the WAL flush (``synchronous_commit=off``): a PostgreSQL crash may lose the
rows of its last moments, which budgets tolerate (the provider's bill stays the record of money),
and a batch is three round trips (begin, one insert, commit). A batch that fails is tried once more
on a fresh connection (the first may have been closed by a database restart), then logged.

A budget check first waits for the agent's rows still pending on this replica
(:meth:`UsageWriter.settled`), so an agent's own calls are always seen by its next one here; across
replicas the lag is the few milliseconds of a commit.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import create_async_engine

from oblivion_nexus.services.models import spending

logger = logging.getLogger(__name__)

# A batch commits in milliseconds; at shutdown, a database that takes longer is down.
CLOSE_SECONDS = 5.0


class UsageWriter:
    def __init__(self, database_url: str) -> None:
        self._engine = create_async_engine(
            database_url,
            pool_size=1,
            max_overflow=0,
            hide_parameters=True,
            connect_args={"options": "-c synchronous_commit=off"},
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
        await self._engine.dispose()

    async def _write(self, calls: list[spending.ModelCall]) -> None:
        for attempt in (1, 2):
            try:
                async with self._engine.begin() as connection:
                    await spending.record_calls(connection, calls)
                return
            except SQLAlchemyError:
                if attempt == 2:
                    logger.exception("could not record %d model calls", len(calls))
            except Exception:
                logger.exception("could not record %d model calls", len(calls))
                return

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
