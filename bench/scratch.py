"""A throwaway Nexus configuration for benchmarks: its own database and Redis prefix, removed after.

Uses the PostgreSQL and Redis the tests use (OBLIVION_TEST_PG_DSN, OBLIVION_TEST_REDIS_URL).
"""

from __future__ import annotations

import base64
import contextlib
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
from tests.support.stores import REDIS_URL, drop_redis_prefix, scratch_database, sqlalchemy_url

REPO_ROOT = Path(__file__).parents[1]


@contextlib.contextmanager
def fake_process(module: str, ready: str, *args: str) -> Iterator[None]:
    """``python -m <module> <args>`` (one of our fakes, on loopback) until the block ends; the block
    starts once its first line of output says ``ready``."""
    fake = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert fake.stdout is not None
        if ready not in fake.stdout.readline():
            raise SystemExit(f"{module} did not start")
        yield
    finally:
        fake.terminate()
        fake.wait(10)


@contextlib.contextmanager
def scratch_nexus_env(**settings: str) -> Iterator[dict[str, str]]:
    """`OBLIVION_*` variables of a valid Nexus on a fresh database, plus `settings`; cleaned up after."""
    prefix = f"oblivion-bench-{uuid.uuid4().hex[:8]}"
    with scratch_database("oblivion_bench") as database_url:
        try:
            yield {
                "OBLIVION_DATABASE_URL": sqlalchemy_url(database_url),
                "OBLIVION_REDIS_URL": REDIS_URL,
                "OBLIVION_REDIS_PREFIX": prefix,
                "OBLIVION_ADMIN_TOKEN": "adm-" + secrets.token_urlsafe(24),
                "OBLIVION_JWT_SIGNING_KEY": secrets.token_urlsafe(48),
                "OBLIVION_MASTER_KEY": "k1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
                **settings,
            }
        finally:
            drop_redis_prefix(REDIS_URL, prefix)


async def bench_github_credential(
    http: httpx.AsyncClient,
    admin: dict[str, str],
    github_url: str,
    token: str,
    actions: list[str],
    approval: dict[str, object] | None = None,
    **workgroup: object,
) -> None:
    """Register workgroup ``bench`` (with registry fields ``workgroup``) and its GitHub ToolCredential
    ``github``: ``token`` on the GitHub API at ``github_url``, allowing ``actions``, some of them waiting
    for a person's ``approval`` when given."""
    (await http.put("/internal/v1/workgroups/bench", json=workgroup, headers=admin)).raise_for_status()
    credential: dict[str, object] = {
        "type": "github",
        "value": token,
        "allowedActions": actions,
        "config": {"baseUrl": github_url},
    }
    if approval is not None:
        credential["approval"] = approval
    (
        await http.put("/internal/v1/workgroups/bench/credentials/github", json=credential, headers=admin)
    ).raise_for_status()


async def bench_agent(
    http: httpx.AsyncClient, admin: dict[str, str], name: str, **spec: object
) -> dict[str, str]:
    """Register agent ``name`` in workgroup ``bench`` (with registry fields ``spec``) and return the
    Authorization header of a token it got from ``/oauth/token``."""
    agent = {"clientId": f"bench-{name}", "clientSecret": secrets.token_urlsafe(24), **spec}
    (
        await http.put(f"/internal/v1/workgroups/bench/agents/{name}", json=agent, headers=admin)
    ).raise_for_status()
    issued = await http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(str(agent["clientId"]), str(agent["clientSecret"])),
    )
    issued.raise_for_status()
    return {"Authorization": f"Bearer {issued.json()['access_token']}"}
