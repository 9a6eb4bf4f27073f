"""The audit trail's hash chain as Nexus processes write it: appended by several processes at once,
it stays one linear chain that verifies, whatever the arguments hold."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import subprocess
import sys
import uuid
from pathlib import Path

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import create_async_engine

from oblivion_nexus.services.tools.audit_log import AuditEntry, ToolAuditLog
from oblivion_nexus.stores import tables as t
from oblivion_nexus.stores.db import create_sessionmaker
from tests.support.nexus import migrate_database

REPO_ROOT = Path(__file__).parents[3]
# One Nexus process's share of the traffic: `count` appends, four at a time, so they queue and are
# written in batches of one and three, each statement racing the other process for the head.
_WRITER = """
import asyncio, sys
from oblivion_nexus.services.tools.audit_log import AuditEntry, ToolAuditLog
from oblivion_nexus.stores.db import create_engine, create_sessionmaker

async def main(url, workgroup, label, count):
    engine = create_engine(url)
    log = ToolAuditLog(create_sessionmaker(engine))
    entry = lambda n: AuditEntry(
        workgroup=workgroup, agent=label, tool="github", action="issues.create", outcome="ok",
        invocation_id=f"{label}-{n}", arguments={"title": f"Überschrift {n} ✓", "n": n},
    )
    try:
        for round in range(count // 4):
            await asyncio.gather(*(log.append(entry(round * 4 + n)) for n in range(4)))
    finally:
        await log.close()
        await engine.dispose()

asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
"""


async def test_two_processes_appending_at_once_make_one_chain_that_verifies(fresh_postgres_url: str) -> None:
    await asyncio.to_thread(migrate_database, fresh_postgres_url)
    workgroup = f"wg-{uuid.uuid4().hex[:8]}"
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, fresh_postgres_url, workgroup, label, "200"],
            cwd=REPO_ROOT,
            stderr=subprocess.PIPE,
            text=True,
        )
        for label in ("replica-a", "replica-b")
    ]
    for writer in writers:
        _, stderr = await asyncio.to_thread(writer.communicate, timeout=120)
        assert writer.returncode == 0, stderr
    engine = create_async_engine(fresh_postgres_url)
    try:
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
