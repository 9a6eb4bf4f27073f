"""What a model call costs and whether an agent's budget allows the next one: pure functions.

Prices come from settings as US dollars per million tokens, input and output apart, per model name
(`gpt-4o-mini=0.15/0.60,claude-sonnet-4=3/15`); a model without a price costs 0 and is reported as
unpriced rather than guessed. Budgets come from the Agent's `spec.budget`: tokens per task and per
UTC day. A call is refused once either is spent (the day's refusal says when the day ends), never
half-way: the budget is checked before the call, and the call's real usage is counted after it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from oblivion_nexus.pricing import Price

_MILLION = Decimal(1_000_000)


def cost(prices: dict[str, Price], model: str, prompt_tokens: int, completion_tokens: int) -> Decimal | None:
    """US$ of one call, or None when the model has no price."""
    price = prices.get(model)
    if price is None:
        return None
    spent = prompt_tokens * price.input_per_million + completion_tokens * price.output_per_million
    return (spent / _MILLION).quantize(Decimal("0.000001"))


@dataclass(frozen=True)
class Budget:
    tokens_per_task: int | None = None
    tokens_per_day: int | None = None


@dataclass(frozen=True)
class BudgetVerdict:
    allowed: bool
    reason: str = ""
    retry_after: float | None = None  # seconds; None when waiting will not help (the task's budget)


def check_budget(budget: Budget, *, task_tokens: int, day_tokens: int, now: dt.datetime) -> BudgetVerdict:
    """Before a call: may it run, given what the task and the agent's UTC day have used so far?"""
    if budget.tokens_per_task is not None and task_tokens >= budget.tokens_per_task:
        return BudgetVerdict(False, f"the task used {task_tokens} of its {budget.tokens_per_task} tokens")
    if budget.tokens_per_day is not None and day_tokens >= budget.tokens_per_day:
        tomorrow = (now.astimezone(dt.UTC) + dt.timedelta(days=1)).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        wait = max((tomorrow - now).total_seconds(), 1.0)
        return BudgetVerdict(
            False, f"the agent used {day_tokens} of its {budget.tokens_per_day} tokens today", wait
        )
    return BudgetVerdict(True)


def utc_day(now: dt.datetime) -> str:
    return now.astimezone(dt.UTC).date().isoformat()
