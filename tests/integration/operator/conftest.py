"""The operator against the real Kubernetes control plane, a real Nexus (real PostgreSQL and Redis),
the fake Slack and qdrant-client's embedded store.

The control plane and Nexus (``oblivion nexus serve`` and ``oblivion nexus worker``, exactly as
deployed; the worker holds the Memory Bank's embedded engine) run once per session;
each test starts from a cluster without the previous test's objects, gets its own Slack fake and
Qdrant directory, and runs the real kopf operator in its own thread, logged in as the operator's
ServiceAccount, through ``tests.support.operator.start_operator``. Tests are synchronous: they wait on
conditions with deadlines.
"""

from __future__ import annotations

import base64
import pathlib
import secrets
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from oblivion_operator.settings import OperatorSettings
from tests.controlplane import Cluster
from tests.fakes.slack import FakeSlack
from tests.secret_logs import SecretRegistry
from tests.support.nexus import nexus_process, nexus_worker_process
from tests.support.operator import NexusAdmin


@pytest.fixture(scope="session")
def operator_nexus(
    postgres_url: str,
    redis_url: str,
    secret_registry: SecretRegistry,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Any]:
    """One real Nexus (API and worker processes) for the operator tests, on its own database schema
    and Redis prefix."""
    env = {
        "OBLIVION_DATABASE_URL": postgres_url,
        "OBLIVION_REDIS_URL": redis_url,
        "OBLIVION_REDIS_PREFIX": f"oblivion-test-op-{uuid.uuid4().hex[:8]}",
        "OBLIVION_ADMIN_TOKEN": "adm-" + secrets.token_urlsafe(24),
        "OBLIVION_JWT_SIGNING_KEY": secrets.token_urlsafe(48),
        "OBLIVION_MASTER_KEY": "k1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
        "OBLIVION_MEMORY_DATA_DIR": str(tmp_path_factory.mktemp("nexus-memory")),
    }
    secret_registry.add(
        env["OBLIVION_ADMIN_TOKEN"], env["OBLIVION_JWT_SIGNING_KEY"], env["OBLIVION_MASTER_KEY"]
    )
    with nexus_process(env) as nexus, nexus_worker_process(nexus.env) as worker:
        secret_registry.add_log_file(nexus.log_path)
        secret_registry.add_log_file(worker.log_path)
        yield nexus


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


@pytest.fixture
def cluster(kube: Cluster) -> Cluster:
    """The control plane (CRDs installed), without what earlier tests made."""
    return kube
