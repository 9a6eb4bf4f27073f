"""The operator against the real Kubernetes control plane, a real Nexus (real PostgreSQL and Redis),
the fake Slack and qdrant-client's embedded store.

The control plane and Nexus (as ``oblivion nexus serve``, exactly as deployed) run once per session;
each test starts from a cluster without the previous test's objects, gets its own Slack fake and
Qdrant directory, and runs the real kopf operator in its own thread, logged in as the operator's
ServiceAccount, through ``tests.controlplane.run_operator``. Tests are synchronous: they wait on
conditions with deadlines.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import pathlib
import secrets
import uuid
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import httpx
import kopf
import pytest

from oblivion_operator.reconcile import OperatorContext
from oblivion_operator.runner import build_registry, configure_kopf
from oblivion_operator.settings import OperatorSettings
from tests.controlplane import Cluster
from tests.controlplane.operator_runner import OperatorRun, run_operator
from tests.fakes.slack import FakeSlack
from tests.secret_logs import SecretRegistry
from tests.support.nexus import nexus_process

T = TypeVar("T")
EXAMPLES = pathlib.Path(__file__).resolve().parents[3] / "examples"
CRD_GROUP = "oblivion.dev"


@pytest.fixture(scope="session")
def operator_nexus(postgres_url: str, redis_url: str, secret_registry: SecretRegistry) -> Iterator[Any]:
    """One real Nexus process for the operator tests, on its own database schema and Redis prefix."""
    env = {
        "OBLIVION_DATABASE_URL": postgres_url,
        "OBLIVION_REDIS_URL": redis_url,
        "OBLIVION_REDIS_PREFIX": f"oblivion-test-op-{uuid.uuid4().hex[:8]}",
        "OBLIVION_ADMIN_TOKEN": "adm-" + secrets.token_urlsafe(24),
        "OBLIVION_JWT_SIGNING_KEY": secrets.token_urlsafe(48),
        "OBLIVION_MASTER_KEY": "k1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
    }
    secret_registry.add(
        env["OBLIVION_ADMIN_TOKEN"], env["OBLIVION_JWT_SIGNING_KEY"], env["OBLIVION_MASTER_KEY"]
    )
    with nexus_process(env) as nexus:
        secret_registry.add_log_file(nexus.log_path)
        yield nexus


class NexusAdmin:
    """The registry API as a test reads it, to assert what the operator registered."""

    def __init__(self, nexus: Any) -> None:
        self.client = httpx.Client(
            base_url=nexus.url + "/internal/v1/", headers=nexus.admin_headers(), timeout=10
        )

    def get(self, path: str) -> dict[str, Any] | None:
        response = self.client.get(path)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data


@pytest.fixture
def nexus_admin(operator_nexus: Any) -> Iterator[NexusAdmin]:
    admin = NexusAdmin(operator_nexus)
    yield admin
    admin.client.close()


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def operator_settings(tmp_path: pathlib.Path, operator_nexus: Any, slack: FakeSlack) -> OperatorSettings:
    return OperatorSettings(
        nexus_url=operator_nexus.url,
        admin_token=operator_nexus.env["OBLIVION_ADMIN_TOKEN"],
        qdrant_path=str(tmp_path / "qdrant"),
        slack_api_url=slack.url + "/api/",
        slack_bot_token=slack.bot_token,
        drift_interval_seconds=3600,  # tests that need drift repair start their own operator with less
        presence_interval_seconds=3600,
        retry_delay_seconds=0.2,
    )


class RunningOperator:
    """A started operator: its kopf run, its context, and a way to run coroutines on its loop."""

    def __init__(self, run: OperatorRun, ctx: OperatorContext, loop: asyncio.AbstractEventLoop) -> None:
        self.run = run
        self.ctx = ctx
        self.loop = loop

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        """Run ``coro`` in the operator's event loop (the embedded Qdrant store lives there)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)


@contextlib.contextmanager
def start_operator(cluster: Cluster, settings: OperatorSettings) -> Iterator[RunningOperator]:
    registry, ctx = build_registry(settings, kube_connection=cluster.operator_connection())
    loops: list[asyncio.AbstractEventLoop] = []

    @kopf.on.startup(id="test-grab-loop", registry=registry)
    async def grab_loop(**_: Any) -> None:
        loops.append(asyncio.get_running_loop())

    with run_operator(cluster, registry, configure=lambda s: configure_kopf(s, standalone=True)) as run:
        yield RunningOperator(run, ctx, loops[0])


@pytest.fixture
def cluster(kube: Cluster) -> Cluster:
    """The control plane (CRDs installed), without what earlier tests made."""
    return kube


def ready(obj: dict[str, Any]) -> bool:
    for condition in (obj.get("status") or {}).get("conditions") or ():
        if condition.get("type") == "Ready":
            return bool(condition.get("status") == "True")
    return False


def ready_condition(obj: dict[str, Any]) -> dict[str, Any] | None:
    for condition in (obj.get("status") or {}).get("conditions") or ():
        if condition.get("type") == "Ready":
            return dict(condition)
    return None


def not_ready_because(reason: str) -> Any:
    def check(obj: dict[str, Any]) -> bool:
        condition = ready_condition(obj)
        return condition is not None and condition["status"] == "False" and condition["reason"] == reason

    return check
