"""The Tool Gateway's audit trail in PostgreSQL: appended in hash-chained batches, paged, verified.

Appending is a group commit: concurrent calls queue their records and one of them writes every queued
record of a workgroup in one statement, one round trip in autocommit (:data:`_APPEND`). The statement
locks the workgroup's head row (``FOR UPDATE``, which reads the newest committed head even when it
changed after the statement began), chains the records from it in a recursive CTE — the same hash
:mod:`.audit_chain` defines, over the canonical fields Python serialised — inserts them and moves the
head, so the chain stays linear across Nexus processes without a Python round trip in between. Each
record is also one JSON log line (logger ``oblivion_nexus.audit``) carrying its hash, so a SIEM holds
a copy of the chain that the database's own administrator cannot rewrite.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from oblivion_nexus.services.tools.audit_chain import GENESIS, Break, ChainedRecord, canonical, verify
from oblivion_nexus.stores import tables as t

audit_logger = logging.getLogger("oblivion_nexus.audit")
# One statement writes at most this many records; more wait for the next.
MAX_BATCH = 500
_PAGE = 1000
# One workgroup's records appended in one statement. `head` locks the head row; in READ COMMITTED
# a locking read waits for a concurrent writer and then returns the row as that writer committed
# it, so `chain` starts from the true newest record. Data-modifying CTEs run once, after `chain` is
# computed (the UPDATE joins on its last row). No head row: nothing is written and no row returns.
_APPEND = text(
    r"""
WITH RECURSIVE
head AS MATERIALIZED (
    SELECT seq, hash FROM tool_audit_heads WHERE workgroup = :workgroup FOR UPDATE
),
incoming AS MATERIALIZED (
    SELECT * FROM jsonb_to_recordset(CAST(:records AS jsonb)) AS r(
        n int, canonical text, at timestamptz, agent text, project text, task_id text, tool text,
        credential text, action text, arguments jsonb, outcome text, upstream_status int,
        duration_ms int, approver text, detail text, invocation_id text
    )
),
chain (n, seq, prev_hash, hash) AS (
    SELECT 0, seq, NULL::text, hash::text FROM head
    UNION ALL
    SELECT i.n, c.seq + 1, c.hash,
           encode(sha256(convert_to((c.seq + 1)::text || E'\n' || c.hash || E'\n' || i.canonical, 'UTF8')),
                  'hex')
    FROM chain c JOIN incoming i ON i.n = c.n + 1
),
written AS (
    INSERT INTO tool_audit (workgroup, seq, prev_hash, hash, at, agent, project, task_id, tool,
                            credential, action, arguments, outcome, upstream_status, duration_ms,
                            approver, detail, invocation_id)
    SELECT :workgroup, c.seq, c.prev_hash, c.hash, i.at, i.agent, i.project, i.task_id, i.tool,
           i.credential, i.action, i.arguments, i.outcome, i.upstream_status, i.duration_ms,
           i.approver, i.detail, i.invocation_id
    FROM chain c JOIN incoming i ON i.n = c.n
),
moved AS (
    UPDATE tool_audit_heads h SET seq = last.seq, hash = last.hash
    FROM (SELECT seq, hash FROM chain ORDER BY n DESC LIMIT 1) AS last
    WHERE h.workgroup = :workgroup AND last.seq > h.seq
)
SELECT n, seq, prev_hash, hash FROM chain WHERE n > 0 ORDER BY n
"""
)
_NEW_HEAD = (
    "INSERT INTO tool_audit_heads (workgroup, seq, hash) VALUES (%(workgroup)s, 0, %(genesis)s)"
    " ON CONFLICT (workgroup) DO NOTHING"
)


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


_HASHED = tuple(f.name for f in dataclasses.fields(AuditEntry) if f.name != "workgroup")


def _fields(entry: AuditEntry) -> dict[str, Any]:
    """The hashed fields: everything but the workgroup (the chain's own key) and the chain columns."""
    data = {name: getattr(entry, name) for name in _HASHED}  # not asdict: no deep copy of arguments
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
    """Shared by every request of a process; `append` returns once the record is committed.

    Batches are written one at a time, so the writer keeps one connection of the pool for itself
    (autocommit, no checkout or liveness ping per batch) and sends its one statement through the
    driver directly (half the CPU of SQLAlchemy's execution path, on every tool call); a failed
    write drops the connection and the next batch takes a fresh one. :meth:`close` gives it back.
    """

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], *, synchronous_commit: bool = True
    ) -> None:
        self._sessionmaker = sessionmaker
        self._synchronous_commit = synchronous_commit
        engine = sessionmaker.kw.get("bind")
        if not isinstance(engine, AsyncEngine):
            raise TypeError("the audit log needs a sessionmaker bound to an AsyncEngine")
        self._engine = engine
        self._connection: AsyncConnection | None = None
        self._driver: Any = None  # the psycopg connection under `_connection`
        self._append_sql = str(_APPEND.compile(dialect=engine.dialect))
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

    async def close(self) -> None:
        connection, self._connection, self._driver = self._connection, None, None
        if connection is not None:
            await connection.close()

    async def _writer(self) -> Any:
        if self._driver is None:
            connection = await self._engine.connect()
            self._connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
            self._driver = (await self._connection.get_raw_connection()).driver_connection
            if not self._synchronous_commit:  # OBLIVION_TOOL_AUDIT_SYNCHRONOUS_COMMIT=false
                await self._driver.execute("SET synchronous_commit TO off")
        return self._driver

    async def _write(self, batch: list[_Pending]) -> None:
        by_workgroup: dict[str, list[_Pending]] = {}
        for pending in batch:
            by_workgroup.setdefault(pending.entry.workgroup, []).append(pending)
        for workgroup, queued in by_workgroup.items():
            try:
                chained = await self._append_chained(workgroup, [p.entry for p in queued])
            except Exception as e:
                for pending in queued:
                    if not pending.done.done():
                        pending.done.set_exception(e)
                continue
            for pending, record in zip(queued, chained, strict=True):
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

    async def _append_chained(self, workgroup: str, entries: list[AuditEntry]) -> list[ChainedRecord]:
        """Write one workgroup's entries as the next links of its chain; one round trip (two the
        first time a workgroup is audited, which creates its head row)."""
        fields = [_fields(entry) for entry in entries]
        records = json.dumps(
            [
                {**field, "n": n, "canonical": canonical(field).decode()}
                for n, field in enumerate(fields, start=1)
            ],
            default=str,
        )
        params = {"workgroup": workgroup, "records": records}
        try:
            driver = await self._writer()
            rows = await (await driver.execute(self._append_sql, params)).fetchall()
            if not rows:  # the workgroup's first record: create its head, then chain from it
                await driver.execute(_NEW_HEAD, {"workgroup": workgroup, "genesis": GENESIS})
                rows = await (await driver.execute(self._append_sql, params)).fetchall()
        except Exception:
            await self._drop_writer()
            raise
        if len(rows) != len(entries):
            raise RuntimeError(f"audit chain of {workgroup!r}: wrote {len(rows)} of {len(entries)} records")
        return [
            ChainedRecord(seq, prev_hash, hash_, field)
            for (_, seq, prev_hash, hash_), field in zip(rows, fields, strict=True)
        ]

    async def _drop_writer(self) -> None:
        connection, self._connection, self._driver = self._connection, None, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.invalidate()
                await connection.close()

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
