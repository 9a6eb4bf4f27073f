"""A throwaway Nexus configuration for benchmarks: its own database and Redis prefix, removed after.

Uses the PostgreSQL and Redis the tests use (OBLIVION_TEST_PG_DSN, OBLIVION_TEST_REDIS_URL).
"""

from __future__ import annotations

import base64
import contextlib
import secrets
import uuid
from collections.abc import Iterator

import psycopg
import redis
from tests.conftest import PG_ADMIN_DSN, REDIS_URL


@contextlib.contextmanager
def scratch_nexus_env(**settings: str) -> Iterator[dict[str, str]]:
    """`OBLIVION_*` variables of a valid Nexus on a fresh database, plus `settings`; cleaned up after."""
    database = f"oblivion_bench_{uuid.uuid4().hex[:8]}"
    prefix = f"oblivion-bench-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield {
            "OBLIVION_DATABASE_URL": f"{base}/{database}",
            "OBLIVION_REDIS_URL": REDIS_URL,
            "OBLIVION_REDIS_PREFIX": prefix,
            "OBLIVION_ADMIN_TOKEN": "adm-" + secrets.token_urlsafe(24),
            "OBLIVION_JWT_SIGNING_KEY": secrets.token_urlsafe(48),
            "OBLIVION_MASTER_KEY": "k1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
            **settings,
        }
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()
