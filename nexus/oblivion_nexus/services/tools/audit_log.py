"""The Tool Gateway's audit trail in PostgreSQL: appended in hash-chained batches, paged, verified.

Appending is a group commit: concurrent calls queue their records and one of them writes every queued
record in a single transaction, locking each workgroup's head row so the chain stays linear across
Nexus processes. Each record is also one JSON log line (logger ``oblivion_nexus.audit``) carrying its
hash, so a SIEM holds a copy of the chain that the database's own administrator cannot rewrite.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from oblivion_nexus.services.tools.audit_chain import GENESIS, Break, ChainedRecord, chain_next, verify
from oblivion_nexus.stores import tables as t

audit_logger = logging.getLogger("oblivion_nexus.audit")
# One transaction writes at most this many records; more wait for the next.
MAX_BATCH = 500
_PAGE = 1000


@dataclass(frozen=True)
class AuditEntry:
    """What the gateway records of one decision or execution (arguments already scrubbed)."""

    workgroup: str
    agent: str
    tool: str
    action: str
    outcome: str
    invocation_id: str
    project: str | None = None
    task_id: str | None = None
    credential: str | None = None
    arguments: Mapping[str, Any] = field(default_factory=dict)
    upstream_status: int | None = None
    duration_ms: int | None = None
    approver: str | None = None
    detail: str | None = None
    at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


def _fields(entry: AuditEntry) -> dict[str, Any]:
    """The hashed fields: everything but the workgroup (the chain's own key) and the chain columns."""
    data = asdict(entry)
    data.pop("workgroup")
    data["at"] = entry.at.astimezone(dt.UTC).isoformat(timespec="microseconds")
    data["arguments"] = dict(entry.arguments)
    return data


def _row_fields(row: t.ToolAuditRecord) -> dict[str, Any]:
    entry = AuditEntry(
        workgroup=row.workgroup,
        agent=row.agent,
        tool=row.tool,
        action=row.action,
        outcome=row.outcome,
        invocation_id=row.invocation_id,
        project=row.project,
        task_id=row.task_id,
        credential=row.credential,
        arguments=row.arguments,
        upstream_status=row.upstream_status,
        duration_ms=row.duration_ms,
        approver=row.approver,
        detail=row.detail,
        at=row.at,
    )
    return _fields(entry)


@dataclass
class _Pending:
    entry: AuditEntry
    done: asyncio.Future[ChainedRecord]


class ToolAuditLog:
    """Shared by every request of a process; `append` returns once the record is committed."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker
        self._queue: list[_Pending] = []
        self._writing = False

    async def append(self, entry: AuditEntry) -> ChainedRecord:
        done: asyncio.Future[ChainedRecord] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(entry, done))
        if not self._writing:
            self._writing = True
            try:
                while self._queue:
                    batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                    await self._write(batch)
            finally:
                self._writing = False
        return await done

    async def _write(self, batch: list[_Pending]) -> None:
        by_workgroup: dict[str, list[_Pending]] = {}
        for pending in batch:
            by_workgroup.setdefault(pending.entry.workgroup, []).append(pending)
        chained: list[tuple[_Pending, ChainedRecord]] = []
        try:
            async with self._sessionmaker() as session, session.begin():
                for workgroup in sorted(by_workgroup):  # a fixed order: two writers cannot deadlock
                    await session.execute(
                        pg_insert(t.ToolAuditHead)
                        .values(workgroup=workgroup, seq=0, hash=GENESIS)
                        .on_conflict_do_nothing(index_elements=["workgroup"])
                    )
                    head = (
                        await session.execute(
                            select(t.ToolAuditHead.seq, t.ToolAuditHead.hash)
                            .where(t.ToolAuditHead.workgroup == workgroup)
                            .with_for_update()
                        )
                    ).one()
                    last = ChainedRecord(head.seq, "", head.hash, {}) if head.seq else None
                    rows = []
                    for pending in by_workgroup[workgroup]:
                        last = chain_next(last, _fields(pending.entry))
                        chained.append((pending, last))
                        rows.append(
                            {
                                **asdict(pending.entry),
                                "arguments": dict(pending.entry.arguments),
                                "seq": last.seq,
                                "prev_hash": last.prev_hash,
                                "hash": last.hash,
                            }
                        )
                    await session.execute(insert(t.ToolAuditRecord), rows)
                    assert last is not None
                    await session.execute(
                        update(t.ToolAuditHead)
                        .where(t.ToolAuditHead.workgroup == workgroup)
                        .values(seq=last.seq, hash=last.hash)
                    )
        except Exception as e:
            for pending in batch:
                if not pending.done.done():
                    pending.done.set_exception(e)
            return
        for pending, record in chained:
            audit_logger.info(
                "%s",
                json.dumps(
                    {
                        "audit": "tool",
                        "workgroup": pending.entry.workgroup,
                        "seq": record.seq,
                        "hash": record.hash,
                        "prev": record.prev_hash,
                        **record.fields,
                    },
                    default=str,
                    sort_keys=True,
                ),
            )
            pending.done.set_result(record)

    async def page(
        self,
        workgroup: str,
        *,
        after_seq: int = 0,
        limit: int = 100,
        agent: str | None = None,
        outcome: str | None = None,
        tool: str | None = None,
        task_id: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
    ) -> list[dict[str, Any]]:
        """Records after `after_seq`, oldest first, filtered; each with its seq and hashes."""
        stmt = select(t.ToolAuditRecord).where(
            t.ToolAuditRecord.workgroup == workgroup, t.ToolAuditRecord.seq > after_seq
        )
        for column, value in (
            (t.ToolAuditRecord.agent, agent),
            (t.ToolAuditRecord.outcome, outcome),
            (t.ToolAuditRecord.tool, tool),
            (t.ToolAuditRecord.task_id, task_id),
        ):
            if value is not None:
                stmt = stmt.where(column == value)
        if since is not None:
            stmt = stmt.where(t.ToolAuditRecord.at >= since)
        if until is not None:
            stmt = stmt.where(t.ToolAuditRecord.at < until)
        async with self._sessionmaker() as session:
            rows = (await session.execute(stmt.order_by(t.ToolAuditRecord.seq).limit(limit))).scalars()
            return [
                {
                    "seq": row.seq,
                    "hash": row.hash,
                    "prevHash": row.prev_hash,
                    "workgroup": row.workgroup,
                    **_row_fields(row),
                }
                for row in rows
            ]

    async def _records(self, workgroup: str) -> AsyncIterator[ChainedRecord]:
        after = -1
        async with self._sessionmaker() as session:
            while True:
                stmt = (
                    select(t.ToolAuditRecord)
                    .where(t.ToolAuditRecord.workgroup == workgroup, t.ToolAuditRecord.seq > after)
                    .order_by(t.ToolAuditRecord.seq)
                    .limit(_PAGE)
                )
                rows = list((await session.execute(stmt)).scalars())
                for row in rows:
                    yield ChainedRecord(row.seq, row.prev_hash, row.hash, _row_fields(row))
                if len(rows) < _PAGE:
                    return
                after = rows[-1].seq

    async def verify(self, workgroup: str) -> tuple[int, list[Break]]:
        """How many records the workgroup's chain has, and every place it is broken."""
        async with self._sessionmaker() as session:
            head = (
                await session.execute(
                    select(t.ToolAuditHead.seq, t.ToolAuditHead.hash).where(
                        t.ToolAuditHead.workgroup == workgroup
                    )
                )
            ).one_or_none()
        records = [record async for record in self._records(workgroup)]
        breaks = verify(records, (head.seq, head.hash) if head else None)
        if head is None and records:
            breaks.append(Break(records[-1].seq, "the chain's head row is missing: newest rows may be gone"))
        return len(records), breaks
