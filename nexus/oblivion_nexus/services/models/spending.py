"""What agents spent on models: each call's row in ``model_usage``, and the sums budgets and people read.

The rows are the record (one per call, as the upstream counted it); every figure shown — an agent's
day in its status, a task's total on its ClickUp task, a budget's remaining tokens — is a sum over
them, read through the indexes on (agent, day) and (workgroup, task).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from oblivion_nexus.stores import tables as t


@dataclass(frozen=True, slots=True)
class ModelCall:
    """One finished call through the gateway, as it is recorded."""

    workgroup: str
    agent: str
    agent_id: int
    task_id: str | None
    provider: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: Decimal | None
    day: dt.date


@dataclass(frozen=True, slots=True)
class Spent:
    """A sum of calls: tokens, cost (of the priced ones) and whether any call had no price."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    unpriced_calls: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def as_json(self) -> dict[str, object]:
        return {
            "calls": self.calls,
            "promptTokens": self.prompt_tokens,
            "completionTokens": self.completion_tokens,
            "totalTokens": self.total_tokens,
            "costUsd": str(self.cost_usd),
            "unpricedCalls": self.unpriced_calls,
        }


def _rows(calls: list[ModelCall]) -> list[dict[str, object]]:
    return [
        {
            "day": call.day,
            "workgroup": call.workgroup,
            "agent": call.agent,
            "agent_id": call.agent_id,
            "task_id": call.task_id,
            "provider": call.provider,
            "model": call.model,
            "prompt_tokens": call.prompt_tokens,
            "completion_tokens": call.completion_tokens,
            "cost_usd": call.cost_usd,
        }
        for call in calls
    ]


async def record_calls(connection: AsyncConnection | AsyncSession, calls: list[ModelCall]) -> None:
    """Insert the calls' rows in one statement, in the caller's transaction."""
    await connection.execute(insert(t.ModelUsage), _rows(calls))


async def record_call(session: AsyncSession, call: ModelCall) -> None:
    await record_calls(session, [call])
    await session.commit()


def _sums() -> tuple[object, ...]:
    u = t.ModelUsage
    return (
        func.count(u.id),
        func.coalesce(func.sum(u.prompt_tokens), 0),
        func.coalesce(func.sum(u.completion_tokens), 0),
        func.coalesce(func.sum(u.cost_usd), 0),
        func.count(u.id).filter(u.cost_usd.is_(None)),
    )


async def _spent(session: AsyncSession, *where: object) -> Spent:
    row = (await session.execute(select(*_sums()).where(*where))).one()  # type: ignore[call-overload]
    return Spent(int(row[0]), int(row[1]), int(row[2]), Decimal(row[3]), int(row[4]))


async def agent_day(session: AsyncSession, agent_id: int, day: dt.date) -> Spent:
    u = t.ModelUsage
    return await _spent(session, u.agent_id == agent_id, u.day == day)


async def named_agent_day(session: AsyncSession, workgroup: str, name: str, day: dt.date) -> Spent | None:
    """The day of the agent registered now under this name (None: none is)."""
    agent_id = await session.scalar(
        select(t.Agent.id).where(t.Agent.workgroup == workgroup, t.Agent.name == name)
    )
    return None if agent_id is None else await agent_day(session, agent_id, day)


async def task_spent(
    session: AsyncSession, workgroup: str, task_id: str, agent_id: int | None = None
) -> Spent:
    """A task's calls (every agent's, or one agent's when ``agent_id`` is given)."""
    u = t.ModelUsage
    where = [u.workgroup == workgroup, u.task_id == task_id]
    if agent_id is not None:
        where.append(u.agent_id == agent_id)
    return await _spent(session, *where)


async def budget_counts(
    session: AsyncSession, workgroup: str, agent_id: int, task_id: str | None, day: dt.date
) -> tuple[int, int]:
    """Tokens the agent used on ``task_id`` (0 without a task) and on ``day``, in one round trip
    (two sums, each served by its own index)."""
    u = t.ModelUsage
    tokens = func.coalesce(func.sum(u.prompt_tokens + u.completion_tokens), 0)
    today = select(tokens).where(u.agent_id == agent_id, u.day == day).scalar_subquery()
    if task_id is None:
        return 0, int((await session.execute(select(today))).scalar_one())
    on_task = (
        select(tokens)
        .where(u.workgroup == workgroup, u.task_id == task_id, u.agent_id == agent_id)
        .scalar_subquery()
    )
    row = (await session.execute(select(on_task, today))).one()
    return int(row[0]), int(row[1])
