"""Cost from the price table, and budgets that stop an agent before the call that would overspend."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from oblivion_nexus.pricing import PriceTableError, parse_price_table
from oblivion_nexus.services.models.usage import Budget, check_budget, cost, utc_day

NOON = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)


def test_a_price_table_prices_input_and_output_apart() -> None:
    prices = parse_price_table("gpt-4o-mini=0.15/0.60, claude-sonnet-4=3/15")
    assert cost(prices, "gpt-4o-mini", 1_000_000, 1_000_000) == Decimal("0.75")
    assert cost(prices, "claude-sonnet-4", 1200, 300) == Decimal("0.008100")
    assert cost(prices, "unknown-model", 10, 10) is None


@pytest.mark.parametrize("text", ["gpt=1", "gpt=a/b", "=1/2", "gpt=-1/2", "gpt=inf/1", "gpt 1/2"])
def test_a_malformed_price_entry_is_named(text: str) -> None:
    with pytest.raises(PriceTableError, match="price entry"):
        parse_price_table(text)


def test_an_empty_table_prices_nothing() -> None:
    assert parse_price_table("") == {}


def test_the_tasks_budget_stops_the_next_call_for_good() -> None:
    verdict = check_budget(Budget(tokens_per_task=1000), task_tokens=1000, day_tokens=0, now=NOON)
    assert not verdict.allowed
    assert verdict.retry_after is None
    assert "1000 of its 1000" in verdict.reason
    assert check_budget(Budget(tokens_per_task=1000), task_tokens=999, day_tokens=0, now=NOON).allowed


def test_the_days_budget_says_when_the_utc_day_ends() -> None:
    verdict = check_budget(Budget(tokens_per_day=5000), task_tokens=0, day_tokens=6000, now=NOON)
    assert not verdict.allowed
    assert verdict.retry_after == 12 * 3600
    late = dt.datetime(2026, 12, 7, 23, 59, 59, 900000, tzinfo=dt.UTC)
    assert check_budget(Budget(tokens_per_day=1), task_tokens=0, day_tokens=1, now=late).retry_after == 1.0


def test_no_budget_allows_everything_and_days_are_utc() -> None:
    assert check_budget(Budget(), task_tokens=10**9, day_tokens=10**9, now=NOON).allowed
    tokyo = dt.datetime(2026, 12, 8, 1, 0, tzinfo=dt.timezone(dt.timedelta(hours=9)))
    assert utc_day(tokyo) == "2026-12-07"
