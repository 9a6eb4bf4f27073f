"""Benchmark of the agent gateway: queue → receipt latency and memory per connection, beside a floor.

N agents connect to a real ``oblivion nexus serve`` process; events are queued at a steady rate the
way the worker queues them (the inbox's Redis script, which pushes the event to the replica holding
the agent's connection, or wakes every replica to claim it), and each agent acks what it receives.
In the same run the same clients connect to a bare ``websockets`` server that only forwards frames
it is handed, which is the floor: what any WebSocket delivery in Python costs on this machine.

    .venv/bin/python bench/ws_gateway.py                       # 1,000 agents, 200 events/s
    .venv/bin/python bench/ws_gateway.py --agents 10000 --seconds 20
    .venv/bin/python bench/ws_gateway.py --dump /tmp/lat     # every (queued at, ms) as JSON, per server

Needs PostgreSQL and Redis as the tests do (OBLIVION_TEST_PG_DSN, OBLIVION_TEST_REDIS_URL). Sends
traffic to 127.0.0.1 only, for a bounded time.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import gc
import json
import os
import random
import resource
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis.asyncio as aioredis
from sqlalchemy import create_engine, insert

from oblivion_agent.protocol import SUBPROTOCOL, make_event
from oblivion_nexus.services.auth.tokens import issue_access_token
from oblivion_nexus.settings import NexusSettings, load_settings
from oblivion_nexus.stores import tables
from oblivion_nexus.stores.crypto import hash_client_secret
from oblivion_nexus.stores.inbox import InboxStore

PG_ADMIN_DSN = os.environ.get("OBLIVION_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("OBLIVION_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
WORKGROUP = "bench"
ROOT = Path(__file__).resolve().parent.parent
CONNECT_CONCURRENCY = 100


def raise_file_limit(needed: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(needed, soft)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft < needed:
        sys.exit(f"need {needed} open files, the hard limit allows {soft}: raise it with `ulimit -Hn`")
    return soft


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout}s")
        time.sleep(0.05)


# -- the installation under test --------------------------------------------------------------


@dataclass
class Installation:
    env: dict[str, str]
    settings: NexusSettings
    database: str
    agents: list[str]
    agent_ids: dict[str, int]  # tokens carry the registry id (and credential generation 1)


def create_installation(agent_count: int) -> Installation:
    database = f"oblivion_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    url = PG_ADMIN_DSN.rsplit("/", 1)[0] + "/" + database
    env = {
        "OBLIVION_DATABASE_URL": url,
        "OBLIVION_REDIS_URL": REDIS_URL,
        "OBLIVION_REDIS_PREFIX": f"oblivion-bench-{uuid.uuid4().hex[:8]}",
        "OBLIVION_ADMIN_TOKEN": secrets.token_urlsafe(24),
        "OBLIVION_JWT_SIGNING_KEY": secrets.token_urlsafe(48),
        "OBLIVION_MASTER_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "OBLIVION_LOG_LEVEL": "WARNING",
        "OBLIVION_HOST": "127.0.0.1",
        "OBLIVION_PORT": str(free_port()),
    }
    settings = load_settings(env)
    run_oblivion(["nexus", "migrate"], env)
    agents = [f"agent-{i}" for i in range(agent_count)]
    # One scrypt hash for all: the registry API hashes each secret (~0.1 s), too slow for 10,000.
    secret_hash = hash_client_secret(secrets.token_urlsafe(24))
    engine = create_engine(settings.database.url)
    with engine.begin() as db:
        db.execute(insert(tables.Workgroup).values(name=WORKGROUP))
        rows = db.execute(
            insert(tables.Agent).returning(tables.Agent.name, tables.Agent.id),
            [
                {
                    "workgroup": WORKGROUP,
                    "name": a,
                    "client_id": f"bench-{a}",
                    "client_secret_hash": secret_hash,
                }
                for a in agents
            ],
        )
        agent_ids = {name: agent_id for name, agent_id in rows}
    engine.dispose()
    return Installation(env=env, settings=settings, database=database, agents=agents, agent_ids=agent_ids)


def drop_installation(inst: Installation) -> None:
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{inst.database}" WITH (FORCE)')

    async def clean() -> None:
        client = aioredis.Redis.from_url(REDIS_URL)
        keys = [k async for k in client.scan_iter(match=f"{inst.settings.redis.prefix}*", count=1000)]
        for i in range(0, len(keys), 1000):
            await client.delete(*keys[i : i + 1000])
        await client.aclose()

    asyncio.run(clean())


def run_oblivion(args: list[str], env: dict[str, str]) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith("OBLIVION_")}
    exe = str(Path(sys.executable).parent / "oblivion")
    result = subprocess.run([exe, *args], env={**base, **env}, capture_output=True, text=True, check=False)
    if result.returncode:
        sys.exit(f"oblivion {' '.join(args)} failed:\n{result.stdout}{result.stderr}")


@contextlib.contextmanager
def server_process(cmd: list[str], env: dict[str, str], ready_url: str) -> Any:
    log = tempfile.NamedTemporaryFile(prefix="bench-", suffix=".log", delete=False)  # noqa: SIM115
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:

        def ready() -> bool:
            if proc.poll() is not None:
                sys.exit(f"{cmd[0]} exited:\n{Path(log.name).read_text()}")
            with contextlib.suppress(httpx.TransportError):
                return httpx.get(ready_url, timeout=1).status_code < 500
            return False

        wait_until(ready, 30, f"{' '.join(cmd)} to start")
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        if os.environ.get("BENCH_KEEP_LOGS"):
            print(f"server log kept: {log.name}")
        else:
            Path(log.name).unlink(missing_ok=True)


# -- the floor: a bare websockets server that forwards what it is handed ----------------------


def floor_server_main(port: int) -> None:
    from websockets.asyncio.server import ServerConnection, serve
    from websockets.http11 import Request, Response

    clients: dict[str, ServerConnection] = {}

    def health(conn: ServerConnection, request: Request) -> Response | None:
        return conn.respond(200, "ok\n") if request.path == "/healthz" else None

    async def handler(ws: ServerConnection) -> None:
        name = ws.request.path.rsplit("/", 1)[-1] if ws.request else ""
        if name == "control":  # {"to": agent, "frame": text} → forward the frame
            async for raw in ws:
                msg = json.loads(raw)
                target = clients.get(msg["to"])
                if target is not None:
                    await target.send(msg["frame"])
            return
        clients[name] = ws
        try:
            async for _ in ws:  # acks: nothing to do
                pass
        finally:
            clients.pop(name, None)

    async def main() -> None:
        # No keepalive pings either: the floor does nothing but forward.
        async with serve(
            handler,
            "127.0.0.1",
            port,
            process_request=health,
            subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
            ping_interval=None,
        ):
            await asyncio.Future()

    _run(main())


def _run(coro: Awaitable[None]) -> None:
    try:
        import uvloop

        uvloop.run(coro)  # type: ignore[arg-type]
    except ImportError:
        asyncio.run(coro)  # type: ignore[arg-type]


# -- the agents -------------------------------------------------------------------------------


@dataclass
class Measurement:
    sent_at: dict[str, float] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    slow: list[tuple[float, float]] = field(default_factory=list)  # (sent at, latency ms)
    duplicates: int = 0
    received: set[str] = field(default_factory=set)


async def agent_client(url: str, headers: dict[str, str], m: Measurement) -> Any:
    from websockets.asyncio.client import connect

    # No client keepalive pings: Nexus's HEARTBEAT is the liveness check, and 10,000 pings from one
    # client process every 20 s would measure the client, not the server.
    ws = await connect(
        url, additional_headers=headers, subprotocols=[SUBPROTOCOL], open_timeout=60, ping_interval=None
    )  # type: ignore[list-item]

    async def read() -> None:
        with contextlib.suppress(Exception):
            async for raw in ws:
                now = time.perf_counter()
                frame = json.loads(raw)
                if frame["type"] == "HEARTBEAT":
                    await ws.send('{"type": "HEARTBEAT", "data": {}}')
                    continue
                event_id = frame["id"]
                if event_id in m.received:
                    m.duplicates += 1
                else:
                    m.received.add(event_id)
                    m.latencies_ms.append((now - m.sent_at[event_id]) * 1000)
                    m.slow.append((m.sent_at[event_id], m.latencies_ms[-1]))
                await ws.send(json.dumps({"type": "ACK", "data": {"ids": [event_id]}}))

    return ws, asyncio.create_task(read())


async def connect_all(urls_and_headers: list[tuple[str, dict[str, str]]], m: Measurement) -> list[Any]:
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one(url: str, headers: dict[str, str]) -> Any:
        async with gate:
            return await agent_client(url, headers, m)

    return await asyncio.gather(*(one(u, h) for u, h in urls_and_headers))


async def drive(
    send: Callable[[str, str, str], Awaitable[None]],
    agents: list[str],
    rate: float,
    seconds: float,
    m: Measurement,
) -> int:
    """Queue ``rate`` events a second for ``seconds`` to random agents; returns how many."""
    rng = random.Random(7)
    total = int(rate * seconds)
    start = time.perf_counter()
    pending: set[asyncio.Task[None]] = set()
    for i in range(total):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        agent = agents[rng.randrange(len(agents))]
        frame = make_event("WAKE_UP", {"reason": "bench", "text": f"event {i}"})
        m.sent_at[frame.id] = time.perf_counter()
        task = asyncio.create_task(send(agent, frame.id, frame.model_dump_json()))
        pending.add(task)
        task.add_done_callback(pending.discard)
    await asyncio.gather(*pending)
    deadline = time.perf_counter() + 30
    while len(m.received) < total and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    return total


@dataclass
class Result:
    name: str
    agents: int
    events: int
    received: int
    duplicates: int
    p50: float
    p99: float
    worst: float
    rss_per_conn_kib: float
    connect_seconds: float


async def measure(
    name: str,
    pid: int,
    targets: list[tuple[str, dict[str, str]]],
    send: Callable[[str, str, str], Awaitable[None]],
    agents: list[str],
    args: argparse.Namespace,
) -> Result:
    m = Measurement()
    rss_before = rss_kib(pid)
    started = time.perf_counter()
    clients = await connect_all(targets, m)
    connect_seconds = time.perf_counter() - started
    await asyncio.sleep(1)  # let the server settle (subscriptions, first dispatches) before the clock runs
    # The client process holds N connections; a full collection of them would stall the clients,
    # not the server under test. Freeze what exists now so later collections stay small.
    gc.collect()
    gc.freeze()
    rss_after = rss_kib(pid)
    events = await drive(send, agents, args.rate, args.seconds, m)
    for ws, reader in clients:
        reader.cancel()
        with contextlib.suppress(Exception):
            await ws.close()
    lat = sorted(m.latencies_ms)
    if args.dump:
        with open(f"{args.dump}.{name.split()[0].lower()}.json", "w") as f:
            json.dump(m.slow, f)
    if args.details:
        first = min(t for t, _ in m.slow) if m.slow else 0.0
        worst = sorted(m.slow, key=lambda x: -x[1])[:15]
        print(f"{name}: slowest (sent at s, ms):", ", ".join(f"{t - first:.2f}:{ms:.0f}" for t, ms in worst))
    q = statistics.quantiles(lat, n=100) if len(lat) > 1 else [float("nan")] * 99
    return Result(
        name=name,
        agents=len(targets),
        events=events,
        received=len(m.received),
        duplicates=m.duplicates,
        p50=q[49],
        p99=q[98],
        worst=lat[-1] if lat else float("nan"),
        rss_per_conn_kib=(rss_after - rss_before) / len(targets),
        connect_seconds=connect_seconds,
    )


async def bench_floor(agents: list[str], args: argparse.Namespace) -> Result:
    from websockets.asyncio.client import connect

    port = free_port()
    cmd = [sys.executable, str(Path(__file__).resolve()), "--floor-server", str(port)]
    with server_process(cmd, dict(os.environ), f"http://127.0.0.1:{port}/healthz") as proc:
        control = await connect(f"ws://127.0.0.1:{port}/control", subprotocols=[SUBPROTOCOL])  # type: ignore[list-item]

        async def send(agent: str, event_id: str, frame_json: str) -> None:
            await control.send(json.dumps({"to": agent, "frame": frame_json}))

        targets = [(f"ws://127.0.0.1:{port}/agents/{a}", {}) for a in agents]
        result = await measure("bare websockets (floor)", proc.pid, targets, send, agents, args)
        await control.close()
        return result


async def bench_nexus(inst: Installation, args: argparse.Namespace) -> Result:
    base = {k: v for k, v in os.environ.items() if not k.startswith("OBLIVION_")}
    exe = str(Path(sys.executable).parent / "oblivion")
    url = f"http://127.0.0.1:{inst.env['OBLIVION_PORT']}"
    with server_process([exe, "nexus", "serve"], {**base, **inst.env}, url + "/healthz") as proc:
        redis = aioredis.Redis.from_url(REDIS_URL)
        inbox = InboxStore(redis, inst.settings.redis.prefix, inst.settings.gateway.inbox_ttl_seconds)

        async def send(agent: str, event_id: str, frame_json: str) -> None:
            await inbox.enqueue(WORKGROUP, agent, event_id, frame_json)

        targets = []
        for agent in inst.agents:
            token, _ = issue_access_token(
                inst.settings,
                workgroup=WORKGROUP,
                agent=agent,
                agent_id=inst.agent_ids[agent],
                generation=1,
                projects=[],
            )
            targets.append(
                (url.replace("http", "ws") + "/v1/agents/connect", {"Authorization": f"Bearer {token}"})
            )
        result = await measure("Nexus gateway", proc.pid, targets, send, inst.agents, args)
        await redis.aclose()
        return result


def print_table(results: list[Result], args: argparse.Namespace) -> None:
    header = (
        f"{'server':<26}{'agents':>8}{'events':>8}{'lost':>6}{'dup':>5}"
        f"{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'KiB/conn':>10}{'connect s':>11}"
    )
    print(f"\n{args.agents} agents, {args.rate:g} events/s for {args.seconds:g} s, {os.cpu_count()} CPUs")
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.name:<26}{r.agents:>8}{r.events:>8}{r.events - r.received:>6}{r.duplicates:>5}"
            f"{r.p50:>9.2f}{r.p99:>9.2f}{r.worst:>9.2f}{r.rss_per_conn_kib:>10.1f}{r.connect_seconds:>11.1f}"
        )
    floor, nexus = results
    ratio = nexus.p99 / floor.p99 if floor.p99 > 0 else float("inf")
    print(f"\nNexus p99 / floor p99 = {ratio:.2f}x (target ≤ 3x)")
    if args.agents == 1000 and args.rate == 200:
        print(f"p99 at 1,000 agents and 200 events/s = {nexus.p99:.2f} ms (target ≤ 20 ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=1000, help="concurrent agent connections")
    parser.add_argument("--rate", type=float, default=200, help="events queued per second")
    parser.add_argument("--seconds", type=float, default=10, help="how long events are queued")
    parser.add_argument("--details", action="store_true", help="print when the slowest events were queued")
    parser.add_argument(
        "--dump", metavar="PREFIX", help="write (queued at, ms) of every event to PREFIX.<server>.json"
    )
    parser.add_argument("--floor-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor_server:
        floor_server_main(args.floor_server)
        return
    raise_file_limit(args.agents + 256)  # each process (clients, server) holds one socket per agent
    inst = create_installation(args.agents)
    try:

        async def both() -> list[Result]:
            return [await bench_floor(inst.agents, args), await bench_nexus(inst, args)]

        results: list[Result] = []

        async def run() -> None:
            results.extend(await both())

        _run(run())
        print_table(results, args)
    finally:
        drop_installation(inst)


if __name__ == "__main__":
    main()
