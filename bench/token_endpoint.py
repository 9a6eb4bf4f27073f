"""Benchmark of ``POST /oauth/token``'s refusals: what a wrong secret, an unknown client id and a
rate-limited request cost, next to a refusal that never reaches authentication (the floor).

An unknown client id must cost what a wrong secret costs (a decoy hash is checked), or timing tells
which ids exist; a client id over its failure limit must cost about the floor (no hash at all), or
a guesser still burns the CPU. One ``oblivion nexus serve`` on loopback, requests one at a time.

    .venv/bin/python bench/token_endpoint.py            # 40 requests of each kind
    .venv/bin/python bench/token_endpoint.py --requests 100

Needs PostgreSQL and Redis as the tests do (OBLIVION_TEST_PG_DSN, OBLIVION_TEST_REDIS_URL).
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.scratch import scratch_nexus_env  # noqa: E402
from tests.support.nexus import nexus_process  # noqa: E402

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def timed(send: Callable[[], httpx.Response], expected: int, count: int) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        answer = send()
        times.append((time.perf_counter() - started) * 1000)
        if answer.status_code != expected:
            raise SystemExit(f"expected {expected}, got {answer.status_code}: {answer.text[:200]}")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=40, help="requests of each kind")
    args = parser.parse_args()
    settings = {
        # Every measured id fails once, except the one made to hit this limit below.
        "OBLIVION_TOKEN_FAILURES_PER_CLIENT_PER_MINUTE": "3",
        "OBLIVION_TOKEN_REQUESTS_PER_ADDRESS_PER_MINUTE": str(args.requests * 100),
    }
    with (
        scratch_nexus_env(**settings) as env,
        nexus_process(env) as nexus,
        httpx.Client(base_url=nexus.url, timeout=30) as http,
    ):
        admin = nexus.admin_headers()
        http.put("/internal/v1/workgroups/bench", json={}, headers=admin).raise_for_status()
        for i in range(args.requests):  # one registered client per round: each fails once
            agent = {"clientId": f"bench-agent-{i}", "clientSecret": secrets.token_urlsafe(24)}
            path = f"/internal/v1/workgroups/bench/agents/bot-{i}"
            http.put(path, json=agent, headers=admin).raise_for_status()
        known = iter(range(args.requests))

        def token(client_id: str, secret: str, grant: str = "client_credentials") -> httpx.Response:
            form = {"grant_type": grant, "client_id": client_id, "client_secret": secret}
            return http.post("/oauth/token", data=form, headers=FORM)

        limited = "bench-limited"
        for _ in range(3):  # exhaust that id's failures for this minute
            token(limited, "wrong-secret-xxxx")
        sends: dict[str, tuple[Callable[[], httpx.Response], int]] = {
            "floor: unsupported grant (no hash)": (
                lambda: token("bench-agent-0", "x", grant="password"),
                400,
            ),
            "known client, wrong secret": (
                lambda: token(f"bench-agent-{next(known)}", "wrong-secret-xxxx"),
                401,
            ),
            "unknown client id": (lambda: token("nobody-" + uuid.uuid4().hex, "wrong-secret-xxxx"), 401),
            "client id over its failure limit": (lambda: token(limited, "wrong-secret-xxxx"), 429),
        }
        # Interleaved, one of each kind per round, so drift of a shared machine hits all alike.
        kinds: dict[str, list[float]] = {kind: [] for kind in sends}
        for _ in range(args.requests):
            for kind, (send, expected) in sends.items():
                kinds[kind] += timed(send, expected, 1)
    print(f"POST /oauth/token, {args.requests} sequential requests of each kind (ms)")
    print(f"{'kind':38s} {'p50':>8s} {'mean':>8s} {'max':>8s}")
    for kind, times in kinds.items():
        print(f"{kind:38s} {statistics.median(times):8.1f} {statistics.fmean(times):8.1f} {max(times):8.1f}")


if __name__ == "__main__":
    main()
