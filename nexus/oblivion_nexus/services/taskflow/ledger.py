"""Exactly-once external writes, keyed in PostgreSQL's mirror ledger.

Every message Nexus writes to Slack or ClickUp goes through :func:`once`: under a PostgreSQL advisory
lock on the write's key, a ledger row is claimed (committed *before* the call), the call is made, and
its result id is recorded. A duplicate job finds the result and returns it. A job that crashed
between the call and the record finds a claim without a result and first asks ``find_existing``
(Slack message metadata, ClickUp comment text) whether the write already happened, so a retry never
posts twice. The same rows stop echo loops: what Nexus wrote is in the ledger, so the webhook that
reports it back is recognised and dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, literal, null, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from oblivion_nexus.services.taskflow.errors import FlowError
from oblivion_nexus.stores import tables as t

logger = logging.getLogger(__name__)

# Ledger ``source`` values. ``slack``/``clickup``: a message Nexus itself wrote on that side (its
# webhook must be dropped). ``slack-in``/``clickup-in``: a person's message, mirrored to the other
# side. ``intent``: any other write Nexus makes once (root message, link comment, agent message).
SLACK = "slack"
CLICKUP = "clickup"
SLACK_IN = "slack-in"
CLICKUP_IN = "clickup-in"
INTENT = "intent"


class LedgerError(FlowError):
    """PostgreSQL failed while claiming or recording a mirrored write: a retryable 503 for a request
    (a tool's comment), a retried job for the worker."""


@dataclass(frozen=True, slots=True)
class LedgerKey:
    source: str
    external_id: str

    def __str__(self) -> str:
        return f"{self.source}/{self.external_id}"


def slack_key(channel: str, ts: str) -> LedgerKey:
    return LedgerKey(SLACK, f"{channel}:{ts}")


def clickup_key(comment_id: str) -> LedgerKey:
    return LedgerKey(CLICKUP, comment_id)


def intent_key(name: str) -> LedgerKey:
    return LedgerKey(INTENT, name[:255])


async def lookup(engine: AsyncEngine, key: LedgerKey) -> tuple[bool, str | None]:
    """Whether ``key`` is in the ledger, and what it was mirrored to (None while pending)."""
    try:
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    select(t.MirrorLedgerEntry.mirrored_id).where(
                        t.MirrorLedgerEntry.source == key.source,
                        t.MirrorLedgerEntry.external_id == key.external_id,
                    )
                )
            ).first()
    except SQLAlchemyError as e:
        raise LedgerError(f"could not read ledger entry {key}: {type(e).__name__}") from e
    return (row is not None, row[0] if row is not None else None)


async def record(engine: AsyncEngine, key: LedgerKey, mirrored_id: str | None) -> None:
    """Note that ``key`` exists and what it mirrors (first writer wins)."""
    try:
        async with engine.begin() as conn:
            await conn.execute(
                insert(t.MirrorLedgerEntry)
                .values(source=key.source, external_id=key.external_id, mirrored_id=mirrored_id)
                .on_conflict_do_nothing(index_elements=["source", "external_id"])
            )
    except SQLAlchemyError as e:
        raise LedgerError(f"could not record ledger entry {key}: {type(e).__name__}") from e


@dataclass(frozen=True, slots=True)
class Written:
    """How to record what a write produced: the key of the new message and what it mirrors."""

    key_of: Callable[[str], LedgerKey]
    mirrors: str | None


async def once(
    engine: AsyncEngine,
    key: LedgerKey,
    write: Callable[[], Awaitable[str]],
    find_existing: Callable[[], Awaitable[str | None]] | None = None,
    written: Written | None = None,
) -> tuple[str, bool]:
    """Run ``write`` at most once for ``key``; returns (its result id, whether this call wrote it).

    With ``written``, the message the write produced (or the one ``find_existing`` found) is recorded
    too, in the same statement as the result, so its webhook is recognised as Nexus's own. One
    database connection is held throughout (never two: a burst of writes cannot starve the pool).

    The connection runs in autocommit: each statement below is its own transaction, so the claim is
    durable before ``write`` runs and the result is durable before the lock is released, without a
    BEGIN/COMMIT round trip around each. A first write costs three statements: lock and claim, record
    the result, unlock.
    """
    lock_id = func.hashtextextended(f"oblivion-ledger:{key}", 0)
    try:
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            try:
                return await _once_locked(conn, key, lock_id, write, find_existing, written)
            finally:
                # Held even if the claim failed: session advisory locks outlive a failed statement.
                await conn.execute(select(func.pg_advisory_unlock(lock_id)))
    except SQLAlchemyError as e:
        raise LedgerError(f"ledger write of {key} failed: {type(e).__name__}") from e


async def _once_locked(
    conn: AsyncConnection,
    key: LedgerKey,
    lock_id: ColumnElement[int],
    write: Callable[[], Awaitable[str]],
    find_existing: Callable[[], Awaitable[str | None]] | None,
    written: Written | None,
) -> tuple[str, bool]:
    # One statement takes the advisory lock, then claims the key: the row is produced only once the
    # lock is held, and a conflict is checked against what the previous holder committed.
    lock = select(func.pg_advisory_lock(lock_id).label("locked")).cte("lock")
    claim = (
        insert(t.MirrorLedgerEntry)
        .from_select(
            ["source", "external_id", "mirrored_id"],
            select(literal(key.source), literal(key.external_id), null()).select_from(lock),
        )
        .on_conflict_do_nothing(index_elements=["source", "external_id"])
        .returning(t.MirrorLedgerEntry.id)
    )
    if (await conn.execute(claim)).first() is None:
        where = (t.MirrorLedgerEntry.source == key.source, t.MirrorLedgerEntry.external_id == key.external_id)
        row = (await conn.execute(select(t.MirrorLedgerEntry.mirrored_id).where(*where))).first()
        if row is not None and row[0] is not None:
            return row[0], False
        # Claimed before, never finished: a worker died between its write and the record.
        if find_existing is not None:
            found = await find_existing()
            if found is not None:
                logger.info("ledger %s: the write had happened before a crash; recording it", key)
                await _finish(conn, key, found, written)
                return found, False
    result = await write()
    await _finish(conn, key, result, written)
    return result, True


async def _finish(conn: AsyncConnection, key: LedgerKey, result: str, written: Written | None) -> None:
    """Record the result and, with ``written``, the message it produced: one statement, one commit."""
    where = (t.MirrorLedgerEntry.source == key.source, t.MirrorLedgerEntry.external_id == key.external_id)
    done = update(t.MirrorLedgerEntry).where(*where).values(mirrored_id=result)
    if written is None:
        await conn.execute(done)
        return
    own = written.key_of(result)
    await conn.execute(
        insert(t.MirrorLedgerEntry)
        .values(source=own.source, external_id=own.external_id, mirrored_id=written.mirrors or str(key))
        .on_conflict_do_nothing(index_elements=["source", "external_id"])
        .add_cte(done.returning(t.MirrorLedgerEntry.id).cte("done"))
    )
