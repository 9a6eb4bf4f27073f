"""Shared fixtures: the real PostgreSQL and Redis of the machine, isolated per test run.

Each test session gets its own PostgreSQL database (dropped at the end) and each test its own Redis
key prefix, so parallel runs and leftovers never interfere. A missing server fails the test with a
message saying how to start it; nothing is skipped silently.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import redis

# Fails the run if a secret a test registered with `secret_registry` ever reaches a log line.
pytest_plugins = ["tests.secret_logs", "tests.controlplane.fixtures"]

PG_ADMIN_DSN = os.environ.get("OBLIVION_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("OBLIVION_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

_PG_HELP = (
    "PostgreSQL is not reachable at {dsn}: {err}. Start it with "
    "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` "
    "(or `apt-get install postgresql`), or run `bash .ci/run`, which starts it."
)
_REDIS_HELP = (
    "Redis is not reachable at {url}: {err}. Start it with `redis-server --daemonize yes "
    "--port 6379 --save ''` (or `apt-get install redis-server`), or run `bash .ci/run`."
)


def _admin_connection() -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as e:
        pytest.fail(_PG_HELP.format(dsn=PG_ADMIN_DSN, err=e), pytrace=False)


@contextlib.contextmanager
def _scratch_database() -> Iterator[str]:
    """A new, empty database on the local PostgreSQL (SQLAlchemy URL), dropped on exit."""
    name = f"oblivion_test_{uuid.uuid4().hex[:12]}"
    with _admin_connection() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        with _admin_connection() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


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
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=5)
    try:
        client.ping()
    except redis.RedisError as e:
        pytest.fail(_REDIS_HELP.format(url=REDIS_URL, err=e), pytrace=False)
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A Redis key prefix unique to this test; its keys are deleted afterwards."""
    prefix = f"oblivion-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def nexus_env(postgres_url: str, redis_url: str, redis_prefix: str, secret_registry: Any) -> dict[str, str]:
    """Environment variables of a valid Nexus configuration against the test PostgreSQL and Redis."""
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
    }
