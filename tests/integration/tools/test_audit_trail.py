"""The audit trail's hash chain as Nexus processes write it: appended by several processes at once,
it stays one linear chain that verifies, whatever the arguments hold."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sys
import uuid
from pathlib import Path

from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from oblivion_nexus.services.tools.audit_chain import GENESIS
from oblivion_nexus.services.tools.audit_log import AuditEntry, ToolAuditLog
from oblivion_nexus.stores import tables as t
from oblivion_nexus.stores.db import create_sessionmaker
from tests.support.nexus import migrate_database
from tests.support.processes import Proc
from tests.support.waiting import eventually

# One Nexus process's share of the traffic: `count` appends, four at a time, so they queue and are
# written in batches of one and three. The appends come in two halves, each behind one of the test's
# gates (PostgreSQL advisory locks the test holds): a writer waits at a gate until the test opens it.
_WRITER = """
import asyncio, sys
from sqlalchemy import text
from oblivion_nexus.services.tools.audit_log import AuditEntry, ToolAuditLog
from oblivion_nexus.stores.db import create_engine, create_sessionmaker

async def main(url, workgroup, label, count, gates):
    engine = create_engine(url)
    log = ToolAuditLog(create_sessionmaker(engine))
    entry = lambda n: AuditEntry(
        workgroup=workgroup, agent=label, tool="github", action="issues.create", outcome="ok",
        invocation_id=f"{label}-{n}", arguments={"title": f"Überschrift {n} ✓", "n": n},
    )
    rounds = count // 4
    try:
        for half, gate in enumerate(gates):
            async with engine.connect() as connection:
                await connection.execute(text("SELECT pg_advisory_lock_shared(:gate)"), {"gate": gate})
                await connection.execute(text("SELECT pg_advisory_unlock_shared(:gate)"), {"gate": gate})
            for round in range(half * rounds // len(gates), (half + 1) * rounds // len(gates)):
                await asyncio.gather(*(log.append(entry(round * 4 + n)) for n in range(4)))
    finally:
        await log.close()
        await engine.dispose()

gates = [int(gate) for gate in sys.argv[5].split(",")]
asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), gates))
"""
_GATES = (1, 2)
# Backends of the test's database waiting for a lock, by what they wait for: a gate (an advisory
# lock) or the head row of a workgroup's chain (the append statement's `FOR UPDATE`; the first
# waiter waits for the holder's transaction, the next ones for the row's tuple lock).
_WAITING = text(
    """
SELECT count(*) FILTER (WHERE wait_event = 'advisory') AS at_gate,
       count(*) FILTER (WHERE wait_event IN ('transactionid', 'tuple')
                        AND query LIKE '%FROM tool_audit_heads%FOR UPDATE%') AS at_head
FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'
"""
)


async def test_two_processes_appending_at_once_make_one_chain_that_verifies(
    fresh_postgres_url: str, tmp_path: Path
) -> None:
    """The writers are made to race: before each half of their appends, the test holds the
    workgroup's head row locked, as a writer's statement does, and lets go only once both writers'
    statements wait for it, so the two processes contend for the head however loaded the machine."""
    await asyncio.to_thread(migrate_database, fresh_postgres_url)
    workgroup = f"wg-{uuid.uuid4().hex[:8]}"
    engine = create_async_engine(fresh_postgres_url)
    try:
        async with engine.begin() as connection:  # the head a writer's first record would create
            await connection.execute(insert(t.ToolAuditHead).values(workgroup=workgroup, seq=0, hash=GENESIS))
        async with engine.connect() as gatekeeper, engine.connect() as observer:
            # Autocommit: the gates are session locks, and a transaction would see one frozen
            # snapshot of pg_stat_activity.
            await gatekeeper.execution_options(isolation_level="AUTOCOMMIT")
            await observer.execution_options(isolation_level="AUTOCOMMIT")
            for gate in _GATES:
                await gatekeeper.execute(text("SELECT pg_advisory_lock(:gate)"), {"gate": gate})
            writers = [
                Proc(
                    label,
                    [sys.executable, "-c", _WRITER, fresh_postgres_url, workgroup, label, "200",
                     ",".join(map(str, _GATES))],
                    {},
                    tmp_path,
                ).start()
                for label in ("replica-a", "replica-b")
            ]  # fmt: skip
            try:
                for gate in _GATES:
                    await _open_together(gate, workgroup, gatekeeper, engine, observer, writers)
                for writer in writers:
                    await eventually(
                        lambda writer=writer: not writer.alive,
                        timeout=120,
                        what=f"{writer.name} to finish its appends",
                        interval=0.2,
                    )
                    assert writer.returncode == 0, writer.exit_report()
            finally:
                for writer in writers:
                    writer.kill()
        log = ToolAuditLog(create_sessionmaker(engine))
        count, breaks = await log.verify(workgroup)
        assert (count, breaks) == (400, [])
        async with create_sessionmaker(engine)() as session:
            rows = (
                await session.execute(
                    select(t.ToolAuditRecord.seq, t.ToolAuditRecord.invocation_id)
                    .where(t.ToolAuditRecord.workgroup == workgroup)
                    .order_by(t.ToolAuditRecord.seq)
                )
            ).all()
        assert [row.seq for row in rows] == list(range(1, 401))
        expected = {f"replica-{side}-{n}" for side in "ab" for n in range(200)}
        assert {row.invocation_id for row in rows} == expected
        sides = [row.invocation_id.split("-")[1] for row in rows]
        turns = sum(1 for before, after in itertools.pairwise(sides) if before != after)
        # Both writers' statements queued for the head at each gate, and each half's records all
        # precede the next half's, so each half passes the head from one writer to the other.
        assert turns >= 2, "the two writers never raced for the head"
        # A third writer continues the same chain where the two left it.
        record = await log.append(
            AuditEntry(
                workgroup=workgroup,
                agent="a",
                tool="http",
                action="GET /",
                outcome="denied",
                invocation_id="late",
            )
        )
        assert record.seq == 401
        assert await log.verify(workgroup) == (401, [])
        await log.close()
    finally:
        await engine.dispose()


async def _open_together(
    gate: int,
    workgroup: str,
    gatekeeper: AsyncConnection,
    engine: AsyncEngine,
    observer: AsyncConnection,
    writers: list[Proc],
) -> None:
    """Once both writers wait at `gate`: lock the head, open the gate, and when both writers' append
    statements wait for the head, let it go — they start contending at the same instant."""

    async def waiting(column: str) -> bool:
        return (await observer.execute(_WAITING)).one()._mapping[column] == len(writers)

    await eventually(
        lambda: waiting("at_gate"), timeout=60, what=f"both writers at gate {gate}", watch=writers
    )
    async with engine.begin() as holder:
        await holder.execute(
            select(t.ToolAuditHead.seq).where(t.ToolAuditHead.workgroup == workgroup).with_for_update()
        )
        await gatekeeper.execute(text("SELECT pg_advisory_unlock(:gate)"), {"gate": gate})
        await eventually(
            lambda: waiting("at_head"),
            timeout=60,
            what=f"both writers' appends to wait for the head after gate {gate}",
            watch=writers,
        )


async def test_after_its_connection_is_cut_the_next_record_is_written_on_a_new_one(
    fresh_postgres_url: str,
) -> None:
    await asyncio.to_thread(migrate_database, fresh_postgres_url)
    workgroup = f"wg-{uuid.uuid4().hex[:8]}"
    engine = create_async_engine(fresh_postgres_url)
    log = ToolAuditLog(create_sessionmaker(engine))

    def entry(n: int) -> AuditEntry:
        return AuditEntry(
            workgroup=workgroup,
            agent="a",
            tool="github",
            action="issues.get",
            outcome="ok",
            invocation_id=f"{n}",
        )

    try:
        await log.append(entry(1))
        async with engine.connect() as admin:  # a database restart or failover, as the writer sees it
            await admin.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        with contextlib.suppress(Exception):  # the write in flight on the cut connection may fail
            await log.append(entry(2))
        record = await log.append(entry(3))
        count, breaks = await log.verify(workgroup)
        assert breaks == []
        assert record.seq == count
    finally:
        await log.close()
        await engine.dispose()


async def test_without_synchronous_commit_the_writer_skips_the_flush_and_the_chain_still_verifies(
    fresh_postgres_url: str,
) -> None:
    """OBLIVION_TOOL_AUDIT_SYNCHRONOUS_COMMIT=false: the writer's session commits without waiting for
    the WAL flush (PostgreSQL's own setting, read back from that session), every other session keeps
    the server's default, and the records chain as before."""
    await asyncio.to_thread(migrate_database, fresh_postgres_url)
    workgroup = f"wg-{uuid.uuid4().hex[:8]}"
    engine = create_async_engine(fresh_postgres_url)
    durable, fast = (
        ToolAuditLog(create_sessionmaker(engine)),
        ToolAuditLog(create_sessionmaker(engine), synchronous_commit=False),
    )
    try:
        for n, log in enumerate((durable, fast, durable, fast)):
            await log.append(
                AuditEntry(
                    workgroup=workgroup, agent="a", tool="github", action="issues.get", outcome="ok",
                    invocation_id=f"{n}",
                )
            )  # fmt: skip
        settings = []
        for log in (durable, fast):
            writer = await log._writer()  # the session the records went through
            settings.append((await (await writer.execute("SHOW synchronous_commit")).fetchone())[0])
        assert settings == ["on", "off"]
        async with engine.connect() as other:
            assert (await other.execute(text("SHOW synchronous_commit"))).scalar_one() == "on"
        assert await durable.verify(workgroup) == (4, [])
    finally:
        await durable.close()
        await fast.close()
        await engine.dispose()
