"""Benchmark of the Tool Gateway: what a call through Nexus adds to calling the upstream directly.

A fake GitHub runs as its own process; the same request (read README.md of a repository) is made
directly with the token (the floor) and through ``POST /v1/tools/invoke`` as an agent (policy,
credential decryption, the call, scrubbing and the audit record included), one at a time for the
latency and with concurrent clients for the throughput, both in the same run, interleaved. Beside
them: one PostgreSQL commit on its own (each call's audit record waits for one WAL flush unless
``--audit-synchronous-commit off``), and the CPU Nexus spent per call, which says how many calls one
Nexus process serves with a core of its own (here the load, the fake and the databases share two).

    .venv/bin/python bench/tool_gateway.py                      # 400 sequential, 2,000 concurrent
    .venv/bin/python bench/tool_gateway.py --requests 1000 --concurrency 64
    .venv/bin/python bench/tool_gateway.py --audit-synchronous-commit off

Needs PostgreSQL and Redis as the tests do (OBLIVION_TEST_PG_DSN, OBLIVION_TEST_REDIS_URL). Sends
traffic to 127.0.0.1 only, for a bounded number of requests.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import psycopg

REPO_ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.scratch import bench_agent, bench_github_credential, fake_process, scratch_nexus_env  # noqa: E402
from bench.timing import caller, concurrent, cpu_seconds, loader, percentile, sequential  # noqa: E402
from tests.support.nexus import nexus_process  # noqa: E402
from tests.support.servers import free_port  # noqa: E402

REPO = "acme/api"


async def commit_floor(database_url: str) -> Callable[[int], Awaitable[list[float]]]:
    """Timer of PostgreSQL's own floor: a one-row INSERT committed on its own (one WAL flush), what
    every tool call's durable audit record costs at least, measured against the same server."""
    connection = await psycopg.AsyncConnection.connect(
        database_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True
    )
    await connection.execute("CREATE TABLE bench_commit_floor (at timestamptz)")

    async def commits(count: int) -> list[float]:
        times = []
        for _ in range(count):
            started = time.perf_counter()
            await connection.execute("INSERT INTO bench_commit_floor VALUES (now())")
            times.append((time.perf_counter() - started) * 1000)
        return times

    return commits


async def measure(
    nexus_url: str,
    nexus_pid: int,
    database_url: str,
    admin: dict[str, str],
    github_url: str,
    token: str,
    args: argparse.Namespace,
) -> None:
    async with httpx.AsyncClient(base_url=nexus_url, timeout=30) as http:
        await bench_github_credential(http, admin, github_url, token, ["repos.*"])
        bearer = await bench_agent(http, admin, "tools", tools=[{"credential": "github"}])
        call = {
            "tool": "github",
            "action": "repos.get_file_contents",
            "args": {"owner": "acme", "repo": "api", "path": "README.md"},
        }
        async with loader(args.concurrency) as session:
            readme = f"{github_url}/repos/{REPO}/contents/README.md"
            direct = caller(session, "GET", readme, headers={"Authorization": f"Bearer {token}"})
            through = caller(session, "POST", f"{nexus_url}/v1/tools/invoke", json_body=call, headers=bearer)
            # Nexus's own floor: an authenticated route that does nothing but check the token and list
            # the agent's tools from memory — what any route of this HTTP stack costs here.
            listing = caller(session, "GET", f"{nexus_url}/v1/tools", headers=bearer)
            for send in (direct, through, listing):  # warm connections, caches and the first audit rows
                await sequential(send, 20)
            floor: list[float] = []
            tool: list[float] = []
            commit: list[float] = []
            listed: list[float] = []
            commits = await commit_floor(database_url)
            for _ in range(args.requests // 20):  # interleaved, so a shared machine's drift hits all
                floor += await sequential(direct, 20)
                tool += await sequential(through, 20)
                commit += await commits(20)
                listed += await sequential(listing, 20)
            floor_rate = tool_rate = cpu = 0.0
            for _ in range(2):
                floor_rate += await concurrent(direct, args.total, args.concurrency) / 2
                before = cpu_seconds(nexus_pid)
                tool_rate += await concurrent(through, args.total, args.concurrency) / 2
                cpu += (cpu_seconds(nexus_pid) - before) / (2 * args.total)
    print(f"{len(tool)} sequential calls each (ms)            p50      p90      p99")
    rows = {
        "direct to the fake GitHub (floor)": [percentile(floor, q) for q in (0.5, 0.9, 0.99)],
        "through the Tool Gateway": [percentile(tool, q) for q in (0.5, 0.9, 0.99)],
    }
    direct_row, gateway_row = rows.values()
    rows["added by the gateway"] = [g - d for d, g in zip(direct_row, gateway_row, strict=True)]
    rows["one PostgreSQL commit (the disk's floor)"] = [percentile(commit, q) for q in (0.5, 0.9, 0.99)]
    rows["GET /v1/tools (any Nexus route's floor)"] = [percentile(listed, q) for q in (0.5, 0.9, 0.99)]
    for name, (p50, p90, p99) in rows.items():
        print(f"  {name:40s} {p50:7.2f}  {p90:7.2f}  {p99:7.2f}")
    durable = "on" if args.audit_synchronous_commit == "on" else "off: answers before the WAL flush"
    print(f"  (OBLIVION_TOOL_AUDIT_SYNCHRONOUS_COMMIT {durable})")
    print(f"{args.total} calls with {args.concurrency} concurrent clients (mean of two rounds)")
    print(f"  direct to the fake GitHub (floor)  {floor_rate:8.0f} calls/s")
    ratio = tool_rate / floor_rate
    print(f"  through the Tool Gateway           {tool_rate:8.0f} calls/s  ({ratio:.2f}x the floor)")
    print(f"Nexus CPU per call: {cpu * 1000:.2f} ms, so one Nexus process with a core of its own")
    print(f"  serves up to {1 / cpu:.0f} calls/s (this run shares 2 cores with the load, fake and databases)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=400, help="sequential calls of each kind")
    parser.add_argument("--total", type=int, default=2000, help="calls of each kind in a throughput round")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--audit-synchronous-commit",
        choices=("on", "off"),
        default="on",
        help="Nexus's OBLIVION_TOOL_AUDIT_SYNCHRONOUS_COMMIT (on, the default: answers wait for a flush)",
    )
    args = parser.parse_args()
    token = "ghp_" + secrets.token_urlsafe(24)
    # Measure the gateway, not its rate limit.
    settings = {
        "OBLIVION_TOOL_CALLS_PER_MINUTE": "100000",
        "OBLIVION_TOOL_AUDIT_SYNCHRONOUS_COMMIT": "true"
        if args.audit_synchronous_commit == "on"
        else "false",
    }
    port = free_port()
    github = ("--port", str(port), "--token", token, "--repo", REPO, "--rate-limit", str(10**9))
    with (
        fake_process("tests.fakes.github", "fake GitHub on", *github),
        scratch_nexus_env(**settings) as env,
        nexus_process(env) as nexus,
    ):
        asyncio.run(
            measure(
                nexus.url,
                nexus.process.pid,
                env["OBLIVION_DATABASE_URL"],
                nexus.admin_headers(),
                f"http://127.0.0.1:{port}",
                token,
                args,
            )
        )


if __name__ == "__main__":
    main()
