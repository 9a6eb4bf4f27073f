"""How fast the operator turns many Agents into running, registered agents.

Applies N Agents at once (default 100 and 500) to the real Kubernetes control plane (kube-apiserver,
etcd and the controller manager of ``tests/controlplane/``), with the real kopf operator logged in as
its ServiceAccount, a real Nexus (``oblivion nexus serve`` on the local PostgreSQL and Redis), the fake
Slack and the embedded Qdrant, and reports the time until every Agent is ``Ready`` and the reconciles
per second.

The floors, measured in the same run: the API server's own request throughput (concurrent GETs and
POSTs from one asyncio client) — each Agent costs a number of API requests (counted by the server's
``apiserver_request_total`` and printed; the controllers' own requests included), so ``requests ÷
API requests/s`` is the time the API server alone would need — and the time Nexus alone needs to
register N agents (each registration hashes a client secret).

    .venv/bin/python bench/operator_scale.py            # 100 and 500
    .venv/bin/python bench/operator_scale.py --agents 50
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import logging
import pathlib
import secrets
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.controlplane import Cluster, control_plane_cluster, run_operator  # noqa: E402
from tests.fakes.slack import FakeSlack  # noqa: E402
from tests.support.nexus import nexus_process  # noqa: E402

from oblivion_operator.runner import build_registry, configure_kopf  # noqa: E402
from oblivion_operator.settings import OperatorSettings  # noqa: E402

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS = "redis://127.0.0.1:6379/0"


@contextlib.contextmanager
def scratch_database() -> Iterator[str]:
    name = f"oblivion_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def api_floor(cluster: Cluster, requests: int, concurrency: int = 32) -> float:
    """Requests per second the API server serves: a GET/POST mix like the operator's, no operator."""
    namespace = "bench-floor"
    headers = {"Authorization": f"Bearer {cluster.admin_token}"}
    async with httpx.AsyncClient(
        base_url=cluster.url, headers=headers, verify=cluster.ssl_context(), timeout=30
    ) as client:
        await client.post("/api/v1/namespaces", json={"metadata": {"name": namespace}})
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(requests):
            queue.put_nowait(i)

        async def worker() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                if i % 2:
                    await client.get(f"/api/v1/namespaces/{namespace}/serviceaccounts/sa-{i - 1}")
                else:
                    body = {"metadata": {"name": f"sa-{i}", "namespace": namespace}}
                    await client.post(f"/api/v1/namespaces/{namespace}/serviceaccounts", json=body)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return requests / (time.perf_counter() - started)


async def nexus_floor(url: str, admin_token: str, n: int, concurrency: int = 32) -> float:
    """Seconds Nexus alone needs to register ``n`` agents (the operator's last call per Agent)."""
    headers = {"Authorization": f"Bearer {admin_token}"}
    workgroup = f"floor-{n}"
    async with httpx.AsyncClient(
        base_url=f"{url}/internal/v1/workgroups/", headers=headers, timeout=60
    ) as client:
        (
            await client.put(workgroup, json={"displayName": workgroup, "namespace": f"wg-{workgroup}"})
        ).raise_for_status()
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(n):
            queue.put_nowait(i)

        async def worker() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                body = {
                    "displayName": f"agent {i}",
                    "clientId": f"{workgroup}.agent-{i}",
                    "clientSecret": secrets.token_urlsafe(32),
                    "aliases": [f"agent-{i}"],
                    "projects": [],
                    "rateLimitPerMinute": 10,
                }
                (await client.put(f"{workgroup}/agents/agent-{i}", json=body)).raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started


def agent(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "oblivion.dev/v1alpha1",
        "kind": "Agent",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"aliases": [name], "model": {"name": "gpt-4o-mini"}},
    }


def ready_count(api: Cluster, namespace: str) -> int:
    count = 0
    for obj in api.list("agents", namespace):
        for condition in (obj.get("status") or {}).get("conditions") or ():
            if condition.get("type") == "Ready" and condition.get("status") == "True":
                count += 1
    return count


def apply_agents(api: Cluster, nexus_url: str, admin_token: str, n: int, timeout: float) -> dict[str, float]:
    workgroup = f"bench-{n}"
    namespace = f"wg-{workgroup}"
    api.create_namespace(namespace, labels={"oblivion.dev/workgroup": workgroup})
    httpx.put(
        f"{nexus_url}/internal/v1/workgroups/{workgroup}",
        json={"displayName": workgroup, "namespace": namespace},
        headers={"Authorization": f"Bearer {admin_token}"},
    ).raise_for_status()
    requests_before = api.request_count()
    started = time.perf_counter()
    for i in range(n):
        api.create(agent(f"agent-{i:04d}", namespace))
    last_report = [started]

    def all_ready() -> bool:
        count = ready_count(api, namespace)
        if time.perf_counter() - last_report[0] > 10:
            last_report[0] = time.perf_counter()
            print(
                f"  … {count}/{n} Ready after {last_report[0] - started:.0f} s", file=sys.stderr, flush=True
            )
        return count == n

    api.wait_for(all_ready, timeout=timeout, interval=1.0, message=f"{n} Ready")
    elapsed = time.perf_counter() - started
    requests = api.request_count() - requests_before
    return {"seconds": elapsed, "reconciles_per_s": n / elapsed, "requests": requests}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, nargs="+", default=[100, 500])
    parser.add_argument("--floor-requests", type=int, default=4000)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--drift-interval", type=float, default=60.0)
    parser.add_argument("--log", type=pathlib.Path, help="write the operator's DEBUG log to this file")
    args = parser.parse_args()
    if args.log:
        handler = logging.FileHandler(args.log)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        for name in ("kopf", "oblivion_operator"):
            logging.getLogger(name).addHandler(handler)
            logging.getLogger(name).setLevel(logging.DEBUG)

    with contextlib.ExitStack() as stack:
        workdir = pathlib.Path(stack.enter_context(tempfile.TemporaryDirectory()))
        database = stack.enter_context(scratch_database())
        env = {
            "OBLIVION_DATABASE_URL": database,
            "OBLIVION_REDIS_URL": REDIS,
            "OBLIVION_REDIS_PREFIX": f"oblivion-bench-{uuid.uuid4().hex[:8]}",
            "OBLIVION_ADMIN_TOKEN": "adm-" + secrets.token_urlsafe(24),
            "OBLIVION_JWT_SIGNING_KEY": secrets.token_urlsafe(48),
            "OBLIVION_MASTER_KEY": "k1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
        }
        nexus = stack.enter_context(nexus_process(env))
        slack = stack.enter_context(FakeSlack())
        api = stack.enter_context(control_plane_cluster(workdir))

        floor_rps = asyncio.run(api_floor(api, args.floor_requests))
        print(
            f"API server floor: {floor_rps:,.0f} requests/s ({args.floor_requests} GET/POST, 32 concurrent)"
        )

        nexus_seconds = {
            n: asyncio.run(nexus_floor(nexus.url, env["OBLIVION_ADMIN_TOKEN"], n)) for n in args.agents
        }
        for n, seconds in nexus_seconds.items():
            print(
                f"Nexus floor: {n} agent registrations in {seconds:.2f} s "
                f"({n / seconds:.1f}/s, 32 concurrent)"
            )

        settings = OperatorSettings(
            nexus_url=nexus.url,
            admin_token=env["OBLIVION_ADMIN_TOKEN"],
            qdrant_path=str(workdir / "qdrant"),
            slack_api_url=slack.url + "/api/",
            slack_bot_token=slack.bot_token,
            # the drift timer is also the safety net for a delayed retry kopf loses under load
            drift_interval_seconds=args.drift_interval,
            presence_interval_seconds=3600,
        )
        registry, _ = build_registry(settings, kube_connection=api.operator_connection())
        with run_operator(api, registry, configure=lambda s: configure_kopf(s, standalone=True)):
            print(
                f"{'agents':>7} {'all Ready (s)':>14} {'reconciles/s':>13} {'API requests':>13} "
                f"{'req/agent':>10} {'API-only (s)':>18} {'Nexus-only (s)':>15}"
            )
            for n in args.agents:
                result = apply_agents(api, nexus.url, env["OBLIVION_ADMIN_TOKEN"], n, args.timeout)
                per_agent = result["requests"] / n
                print(
                    f"{n:>7} {result['seconds']:>14.2f} {result['reconciles_per_s']:>13.1f} "
                    f"{result['requests']:>13.0f} {per_agent:>10.1f} {result['requests'] / floor_rps:>18.2f} "
                    f"{nexus_seconds[n]:>15.2f}"
                )


if __name__ == "__main__":
    main()
