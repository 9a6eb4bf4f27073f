"""Timing of HTTP calls for the gateway benchmarks: one call at a time for latency, many at once for
throughput, and percentiles of what was measured."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _expect_ok(answer: httpx.Response) -> None:
    if answer.status_code != 200:
        raise SystemExit(f"expected 200, got {answer.status_code}: {answer.text[:200]}")


async def sequential(send: Callable[[], Awaitable[httpx.Response]], count: int) -> list[float]:
    """Milliseconds of each of `count` calls made one after the other."""
    times = []
    for _ in range(count):
        started = time.perf_counter()
        answer = await send()
        times.append((time.perf_counter() - started) * 1000)
        _expect_ok(answer)
    return times


async def concurrent(send: Callable[[], Awaitable[httpx.Response]], count: int, workers: int) -> float:
    """Requests per second with `workers` clients sending `count` requests in all."""
    remaining = iter(range(count))

    async def worker() -> None:
        for _ in remaining:
            _expect_ok(await send())

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return count / (time.perf_counter() - started)
