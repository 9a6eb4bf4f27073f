"""Benchmark of the model gateway: what a call through Nexus adds to calling the model API directly.

The fake model APIs run as their own process; the same chat request is made directly with the key
(the floor) and through ``POST /v1/llm/chat/completions`` as an agent (token check, routing to the
Agent's model, credential decryption, the call, the usage row and metrics included), in the same
run, interleaved: plain completions (whole answer), streams (time to the first event), and plain
completions from concurrent clients (throughput), with the CPU Nexus spent per call. At the end,
the tokens Nexus recorded are compared with the sum of the usage the fake reported to the agent.

    .venv/bin/python bench/model_gateway.py                     # 400 sequential, 2,000 concurrent
    .venv/bin/python bench/model_gateway.py --requests 1000 --concurrency 64

Needs PostgreSQL and Redis as the tests do (OBLIVION_TEST_PG_DSN, OBLIVION_TEST_REDIS_URL). Sends
traffic to 127.0.0.1 only, for a bounded number of requests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
import time
from collections.abc import Awaitable
from pathlib import Path

import aiohttp
import httpx

REPO_ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.scratch import bench_agent, fake_process, scratch_nexus_env  # noqa: E402
from bench.timing import Answer, caller, concurrent, cpu_seconds, loader, percentile, sequential  # noqa: E402
from tests.support.nexus import nexus_process  # noqa: E402
from tests.support.servers import free_port  # noqa: E402

MODEL = "gpt-4o-mini"
REQUEST = {"messages": [{"role": "user", "content": "say ok"}], "max_tokens": 16}


async def first_event(session: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> tuple[float, int]:
    """Milliseconds to the first server-sent event of a streamed call, and the tokens its final usage
    chunk reported (the stream is read to its end)."""
    body = {**REQUEST, "model": MODEL, "stream": True, "stream_options": {"include_usage": True}}
    started = time.perf_counter()
    first, tokens = 0.0, 0
    async with session.post(url, json=body, headers=headers) as response:
        if response.status != 200:
            raise SystemExit(f"expected 200, got {response.status}: {(await response.read())[:200]!r}")
        async for raw in response.content:
            line = raw.decode().strip()
            if not line.startswith("data: "):
                continue
            if not first:
                first = (time.perf_counter() - started) * 1000
            data = line[6:]
            if data != "[DONE]" and (usage := json.loads(data).get("usage")):
                tokens = int(usage["total_tokens"])
    return first, tokens


async def measure(
    nexus_url: str, nexus_pid: int, admin: dict[str, str], models_url: str, key: str, args: argparse.Namespace
) -> None:
    async with httpx.AsyncClient(base_url=nexus_url, timeout=30) as http:
        credential = {
            "type": "openai",
            "value": key,
            "allowedActions": ["*"],
            "config": {"baseUrl": f"{models_url}/v1"},
        }
        (await http.put("/internal/v1/workgroups/bench", json={}, headers=admin)).raise_for_status()
        (
            await http.put("/internal/v1/workgroups/bench/credentials/openai", json=credential, headers=admin)
        ).raise_for_status()
        bearer = await bench_agent(http, admin, "bot", model={"provider": "openai", "name": MODEL})
        keyed = {"Authorization": f"Bearer {key}"}
        reported = 0  # tokens the fake reported on calls through Nexus
        async with loader(args.concurrency) as session:
            direct = caller(
                session,
                "POST",
                f"{models_url}/v1/chat/completions",
                json_body={**REQUEST, "model": MODEL},
                headers=keyed,
            )
            gateway = caller(
                session, "POST", f"{nexus_url}/v1/llm/chat/completions", json_body=REQUEST, headers=bearer
            )

            # Nexus's own floor: an authenticated route that only checks the token and lists the agent's
            # tools from memory — what any route of this HTTP stack costs here.
            listing = caller(session, "GET", f"{nexus_url}/v1/tools", headers=bearer)

            async def through() -> Answer:
                nonlocal reported
                status, body = await gateway()
                if status == 200:
                    reported += int(body["usage"]["total_tokens"])
                return status, body

            async def streams(url: str, headers: dict[str, str], count: int, counted: bool) -> list[float]:
                nonlocal reported
                times = []
                for _ in range(count):
                    first, tokens = await first_event(session, url, headers)
                    times.append(first)
                    reported += tokens if counted else 0
                return times

            def stream_direct(count: int) -> Awaitable[list[float]]:
                return streams(f"{models_url}/v1/chat/completions", keyed, count, False)

            def stream_through(count: int) -> Awaitable[list[float]]:
                return streams(f"{nexus_url}/v1/llm/chat/completions", bearer, count, True)

            for send in (direct, through, listing):  # warm connections, caches and the first usage rows
                await sequential(send, 20)
            await stream_direct(20)
            await stream_through(20)
            kinds = ("floor", "gateway", "sfloor", "sgateway", "route")
            results: dict[str, list[float]] = {k: [] for k in kinds}
            for _ in range(args.requests // 20):  # interleaved, so a shared machine's drift hits both
                results["floor"] += await sequential(direct, 20)
                results["gateway"] += await sequential(through, 20)
                results["sfloor"] += await stream_direct(20)
                results["sgateway"] += await stream_through(20)
                results["route"] += await sequential(listing, 20)
            rates: dict[str, float] = {"floor": 0.0, "gateway": 0.0}
            cpu = 0.0
            for _ in range(2):
                rates["floor"] += await concurrent(direct, args.total, args.concurrency) / 2
                before = cpu_seconds(nexus_pid)
                rates["gateway"] += await concurrent(through, args.total, args.concurrency) / 2
                cpu += (cpu_seconds(nexus_pid) - before) / (2 * args.total)
        deadline = time.monotonic() + 10  # the last rows are written just after their answers
        while True:
            usage = (await http.get("/internal/v1/workgroups/bench/agents/bot/usage", headers=admin)).json()
            if int(usage["totalTokens"]) >= reported or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
    quantiles = (0.5, 0.9, 0.99)
    for title, floor_key, gateway_key in (
        ("plain completion, whole answer", "floor", "gateway"),
        ("stream, first event", "sfloor", "sgateway"),
    ):
        print(f"{len(results[gateway_key])} sequential calls each, {title} (ms)    p50      p90      p99")
        floor_row = [percentile(results[floor_key], q) for q in quantiles]
        gateway_row = [percentile(results[gateway_key], q) for q in quantiles]
        added = [g - d for d, g in zip(floor_row, gateway_row, strict=True)]
        for name, (p50, p90, p99) in (
            ("direct to the fake model API (floor)", floor_row),
            ("through the model gateway", gateway_row),
            ("added by the gateway", added),
        ):
            print(f"  {name:38s} {p50:7.2f}  {p90:7.2f}  {p99:7.2f}")
    route = [percentile(results["route"], q) for q in quantiles]
    print(f"  GET /v1/tools (any Nexus route's floor)  {route[0]:7.2f}  {route[1]:7.2f}  {route[2]:7.2f}")
    print(f"{args.total} plain calls with {args.concurrency} concurrent clients (mean of two rounds)")
    print(f"  direct to the fake model API (floor)   {rates['floor']:8.0f} calls/s")
    ratio = rates["gateway"] / rates["floor"]
    print(
        f"  through the model gateway              {rates['gateway']:8.0f} calls/s  ({ratio:.2f}x the floor)"
    )
    print(f"Nexus CPU per plain call: {cpu * 1000:.2f} ms, so one Nexus process with a core of its own")
    print(f"  serves up to {1 / cpu:.0f} calls/s (this run shares 2 cores with the load, fake and databases)")
    recorded = int(usage["totalTokens"])
    verdict = "equal" if recorded == reported else f"DIFFERENT by {recorded - reported}"
    print(
        f"tokens: the fake reported {reported} to the agent, Nexus recorded {recorded} "
        f"in {usage['calls']} calls ({verdict})"
    )
    if recorded != reported:
        raise SystemExit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=400, help="sequential calls of each kind")
    parser.add_argument("--total", type=int, default=2000, help="calls of each kind in a throughput round")
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    key = "sk-bench-" + secrets.token_urlsafe(24)
    port = free_port()
    with (
        fake_process("tests.fakes.models", "fake models on", "--port", str(port), "--key", key),
        scratch_nexus_env() as env,
        nexus_process(env) as nexus,
    ):
        url = f"http://127.0.0.1:{port}"
        asyncio.run(measure(nexus.url, nexus.process.pid, nexus.admin_headers(), url, key, args))


if __name__ == "__main__":
    main()
