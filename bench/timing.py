"""Timing of HTTP calls for the gateway benchmarks: one call at a time for latency, many at once for
throughput, percentiles of what was measured, and the CPU a server process spent meanwhile.

The load comes from aiohttp (:func:`caller`): with 32 calls in flight httpx spends about 1.7 ms of
CPU per request, enough to make the benchmark's own client the bottleneck on a 2-core machine; the
same calls cost aiohttp about 0.1 ms. Floor and gateway are always driven by the same client.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import aiohttp

# What a call returns: its HTTP status and its body (parsed as JSON when it is).
Answer = tuple[int, Any]
Send = Callable[[], Awaitable[Answer]]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def caller(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    json_body: Any = None,
    headers: Mapping[str, str] | None = None,
) -> Send:
    """A call to repeat: `method url` with the body and headers given, answering (status, body)."""
    data = json.dumps(json_body).encode() if json_body is not None else None
    sent = {**(headers or {}), **({"Content-Type": "application/json"} if data is not None else {})}

    async def send() -> Answer:
        async with session.request(method, url, data=data, headers=sent) as response:
            raw = await response.read()
            try:
                return response.status, json.loads(raw)
            except ValueError:
                return response.status, raw

    return send


def loader(concurrency: int) -> aiohttp.ClientSession:
    """The benchmarks' client: keeps `concurrency` connections, no cookies, nothing from the env."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=concurrency),
        cookie_jar=aiohttp.DummyCookieJar(),
        timeout=aiohttp.ClientTimeout(total=30),
    )


def _expect_ok(answer: Answer) -> None:
    status, body = answer
    if status != 200:
        raise SystemExit(f"expected 200, got {status}: {str(body)[:200]}")


async def sequential(send: Send, count: int) -> list[float]:
    """Milliseconds of each of `count` calls made one after the other."""
    times = []
    for _ in range(count):
        started = time.perf_counter()
        answer = await send()
        times.append((time.perf_counter() - started) * 1000)
        _expect_ok(answer)
    return times


async def concurrent(send: Send, count: int, workers: int) -> float:
    """Requests per second with `workers` clients sending `count` requests in all."""
    remaining = iter(range(count))

    async def worker() -> None:
        for _ in remaining:
            _expect_ok(await send())

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return count / (time.perf_counter() - started)


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) process `pid` has used so far (Linux's /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
