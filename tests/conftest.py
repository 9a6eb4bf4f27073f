"""Shared fixtures: the real PostgreSQL and Redis of the machine, isolated per test run.

Each test session gets its own PostgreSQL database (dropped at the end) and each test its own Redis
key prefix, so parallel runs and leftovers never interfere. A missing server fails the test with a
message saying how to start it; nothing is skipped silently.
"""

from __future__ import annotations

import base64
import contextlib
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.stores import (
    REDIS_URL,
    StoreUnreachable,
    drop_redis_prefix,
    ping_redis,
    scratch_database,
    sqlalchemy_url,
)

# Fails the run if a secret a test registered with `secret_registry` ever reaches a log line; runs the
# control plane; starts Nexus replicas (the gateway and security tests).
pytest_plugins = [
    "tests.secret_logs",
    "tests.controlplane.fixtures",
    "tests.support.gateway",
    "tests.support.fakes",
]


@contextlib.contextmanager
def _scratch_database() -> Iterator[str]:
    """A new, empty database on the local PostgreSQL (SQLAlchemy URL), dropped on exit."""
    try:
        with scratch_database() as url:
            yield sqlalchemy_url(url)
    except StoreUnreachable as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """SQLAlchemy URL of a fresh, empty database shared by the whole session, dropped afterwards."""
    with _scratch_database() as url:
        yield url


@pytest.fixture
def fresh_postgres_url() -> Iterator[str]:
    """Like ``postgres_url`` but one database per test, for tests that need an empty schema."""
    with _scratch_database() as url:
        yield url


@pytest.fixture(scope="session")
def redis_url() -> str:
    try:
        ping_redis(REDIS_URL)
    except StoreUnreachable as e:
        pytest.fail(str(e), pytrace=False)
    return REDIS_URL


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A Redis key prefix unique to this test; its keys are deleted afterwards."""
    prefix = f"oblivion-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    drop_redis_prefix(redis_url, prefix)


@pytest.fixture
def nexus_env(
    postgres_url: str, redis_url: str, redis_prefix: str, secret_registry: Any, tmp_path: Path
) -> dict[str, str]:
    """Environment variables of a valid Nexus configuration against the test PostgreSQL and Redis,
    with the Memory Bank's embedded engine in the test's own directory."""
    admin_token, signing_key = "adm-" + secrets.token_urlsafe(24), secrets.token_urlsafe(48)
    master_key = base64.b64encode(secrets.token_bytes(32)).decode()
    secret_registry.add(admin_token, signing_key, master_key)
    return {
        "OBLIVION_DATABASE_URL": postgres_url,
        "OBLIVION_REDIS_URL": redis_url,
        "OBLIVION_REDIS_PREFIX": redis_prefix,
        "OBLIVION_ADMIN_TOKEN": admin_token,
        "OBLIVION_JWT_SIGNING_KEY": signing_key,
        "OBLIVION_MASTER_KEY": "k1:" + master_key,
        "OBLIVION_MEMORY_DATA_DIR": str(tmp_path / "memory"),
    }
