"""The Agent's token budgets, checked before each call, and the one notice a refusal leaves in the thread.

A call is refused once the task's or the UTC day's tokens are spent (never half-way: the check is
before the call, the call's real usage is counted after it). The first refusal of a kind tells the
task's thread, once: per task for the task's budget, per task and day for the day's, whichever Nexus
replica refuses (a Redis key taken with ``SET NX``). A call naming no task counts against the day
only, and its refusal has no thread to tell.
"""

from __future__ import annotations

import datetime as dt
import logging

from oblivion_nexus.resources import Resources
from oblivion_nexus.services.agent_tasks.actions import post_notice
from oblivion_nexus.services.llm.errors import BudgetExceeded
from oblivion_nexus.services.models import spending
from oblivion_nexus.services.models.usage import Budget, check_budget
from oblivion_nexus.stores import tables as t

logger = logging.getLogger(__name__)

# Refused for the task's budget, waiting does not help until someone raises it; an hour keeps the
# OpenAI clients' automatic retries from hammering while a person looks.
TASK_BUDGET_RETRY_AFTER = 3600.0
# The notice keys outlive what they guard: a day's refusal a day, a task's as long as a task lasts.
_DAY_NOTICE_TTL = 2 * 86_400
_TASK_NOTICE_TTL = 90 * 86_400


def is_limited(budget: Budget) -> bool:
    return budget.tokens_per_task is not None or budget.tokens_per_day is not None


async def admit(
    resources: Resources,
    *,
    workgroup: str,
    agent: str,
    agent_id: int,
    budget: Budget,
    task: t.TaskMapping | None,
    now: dt.datetime,
) -> None:
    """Raise :class:`BudgetExceeded` (429 with ``retry_after``) when the budget allows no more calls."""
    if not is_limited(budget):
        return
    task_id = task.clickup_task_id if task is not None else None
    async with resources.sessionmaker() as session:
        task_tokens, day_tokens = await spending.budget_counts(
            session, workgroup, agent_id, task_id, now.date()
        )
    verdict = check_budget(budget, task_tokens=task_tokens, day_tokens=day_tokens, now=now)
    if verdict.allowed:
        return
    per_task = verdict.retry_after is None
    if task is not None:
        kind = "task" if per_task else f"day:{now.date().isoformat()}"
        key = f"{resources.settings.redis.prefix}llm:budget-notice:{agent_id}:{task_id}:{kind}"
        ttl = _TASK_NOTICE_TTL if per_task else _DAY_NOTICE_TTL
        if await resources.redis.set(key, "1", nx=True, ex=ttl):
            what = "this task's" if per_task else "today's"
            until = (
                "until someone raises spec.budget.tokensPerTask on its Agent"
                if per_task
                else "until midnight UTC"
            )
            await post_notice(
                resources,
                task,
                f":money_with_wings: {agent} has spent {what} model budget ({verdict.reason}); its model "
                f"calls are refused {until}.",
            )
    raise BudgetExceeded(
        f"over budget: {verdict.reason}",
        retry_after=TASK_BUDGET_RETRY_AFTER if per_task else verdict.retry_after,
    )
