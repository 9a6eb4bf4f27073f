"""Benchmark of the Tool Gateway: what a call through Nexus adds to calling the upstream directly.

A fake GitHub runs as its own process; the same request (read README.md of a repository) is made
directly with the token (the floor) and through ``POST /v1/tools/invoke`` as an agent (policy,
credential decryption, the call, scrubbing and the audit record included), one at a time for the
latency and with concurrent clients for the throughput, both in the same run, interleaved.

    .venv/bin/python bench/tool_gateway.py                      # 400 sequential, 2,000 concurrent
    .venv/bin/python bench/tool_gateway.py --requests 1000 --concurrency 64

Needs PostgreSQL and Redis as the tests do (OBLIVION_TEST_PG_DSN, OBLIVION_TEST_REDIS_URL). Sends
traffic to 127.0.0.1 only, for a bounded number of requests.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import subprocess
import sys
from collections.abc import Awaitable
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.scratch import bench_agent, scratch_nexus_env  # noqa: E402
from bench.timing import concurrent, percentile, sequential  # noqa: E402
from tests.support.nexus import nexus_process  # noqa: E402
from tests.support.servers import free_port  # noqa: E402

REPO = "acme/api"


async def measure(
    nexus_url: str, admin: dict[str, str], github_url: str, token: str, args: argparse.Namespace
) -> None:
    async with httpx.AsyncClient(base_url=nexus_url, timeout=30) as http:
        credential = {
            "type": "github",
            "value": token,
            "allowedActions": ["repos.*"],
            "config": {"baseUrl": github_url},
        }
        (await http.put("/internal/v1/workgroups/bench", json={}, headers=admin)).raise_for_status()
        (
            await http.put("/internal/v1/workgroups/bench/credentials/github", json=credential, headers=admin)
        ).raise_for_status()
        bearer = await bench_agent(http, admin, "tools", tools=[{"credential": "github"}])
        call = {
            "tool": "github",
            "action": "repos.get_file_contents",
            "args": {"owner": "acme", "repo": "api", "path": "README.md"},
        }
        limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
        async with (
            httpx.AsyncClient(base_url=github_url, timeout=30, limits=limits) as upstream,
            httpx.AsyncClient(base_url=nexus_url, timeout=30, limits=limits) as gateway,
        ):

            def direct() -> Awaitable[httpx.Response]:
                return upstream.get(
                    f"/repos/{REPO}/contents/README.md", headers={"Authorization": f"Bearer {token}"}
                )

            def through() -> Awaitable[httpx.Response]:
                return gateway.post("/v1/tools/invoke", json=call, headers=bearer)

            for send in (direct, through):  # warm connections, caches and the first audit rows
                await sequential(send, 20)
            floor: list[float] = []
            tool: list[float] = []
            for _ in range(args.requests // 20):  # interleaved, so a shared machine's drift hits both
                floor += await sequential(direct, 20)
                tool += await sequential(through, 20)
            floor_rate = await concurrent(direct, args.total, args.concurrency)
            tool_rate = await concurrent(through, args.total, args.concurrency)
            floor_rate = (floor_rate + await concurrent(direct, args.total, args.concurrency)) / 2
            tool_rate = (tool_rate + await concurrent(through, args.total, args.concurrency)) / 2
    print(f"{len(tool)} sequential calls each (ms)      p50      p90      p99")
    rows = {
        "direct to the fake GitHub (floor)": [percentile(floor, q) for q in (0.5, 0.9, 0.99)],
        "through the Tool Gateway": [percentile(tool, q) for q in (0.5, 0.9, 0.99)],
    }
    direct_row, gateway_row = rows.values()
    rows["added by the gateway"] = [g - d for d, g in zip(direct_row, gateway_row, strict=True)]
    for name, (p50, p90, p99) in rows.items():
        print(f"  {name:34s} {p50:7.2f}  {p90:7.2f}  {p99:7.2f}")
    print(f"{args.total} calls with {args.concurrency} concurrent clients (mean of two rounds)")
    print(f"  direct to the fake GitHub (floor)  {floor_rate:8.0f} calls/s")
    ratio = tool_rate / floor_rate
    print(f"  through the Tool Gateway           {tool_rate:8.0f} calls/s  ({ratio:.2f}x the floor)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=400, help="sequential calls of each kind")
    parser.add_argument("--total", type=int, default=2000, help="calls of each kind in a throughput round")
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    token = "ghp_" + secrets.token_urlsafe(24)
    # Measure the gateway, not its rate limit.
    settings = {"OBLIVION_TOOL_CALLS_PER_MINUTE": "100000"}
    port = free_port()
    fake = subprocess.Popen(  # our own fake, on loopback
        [
            sys.executable,
            "-m",
            "tests.fakes.github",
            "--port",
            str(port),
            "--token",
            token,
            "--repo",
            REPO,
            "--rate-limit",
            str(10**9),
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert fake.stdout is not None
        if "fake GitHub on" not in fake.stdout.readline():
            raise SystemExit("the fake GitHub did not start")
        with scratch_nexus_env(**settings) as env, nexus_process(env) as nexus:
            asyncio.run(measure(nexus.url, nexus.admin_headers(), f"http://127.0.0.1:{port}", token, args))
    finally:
        fake.terminate()
        fake.wait(10)


if __name__ == "__main__":
    main()
