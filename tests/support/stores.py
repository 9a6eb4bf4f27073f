"""The machine's PostgreSQL and Redis as tests use them: a scratch database per run or test, a Redis
key prefix removed afterwards, and a private ``redis-server`` for a test that needs Redis to go away.

The shared servers are never stopped or flushed; a missing one fails with how to start it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import redis

from tests.support.processes import Proc
from tests.support.servers import free_port
from tests.support.waiting import eventually_sync

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


class StoreUnreachable(RuntimeError):
    """The local PostgreSQL or Redis does not answer; the message says how to start it."""


def _pg_admin() -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as e:
        raise StoreUnreachable(_PG_HELP.format(dsn=PG_ADMIN_DSN, err=e)) from e


def sqlalchemy_url(url: str) -> str:
    """A ``postgresql://`` URL as SQLAlchemy needs it to use psycopg 3."""
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


@contextlib.contextmanager
def scratch_database(prefix: str = "oblivion_test") -> Iterator[str]:
    """A new, empty database on the local PostgreSQL, dropped on exit; yields its ``postgresql://`` URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with _pg_admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_ADMIN_DSN.rsplit('/', 1)[0]}/{name}"
    finally:
        with _pg_admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def ping_redis(url: str = REDIS_URL) -> None:
    """Raise :class:`StoreUnreachable` unless Redis answers at ``url``."""
    client = redis.Redis.from_url(url, socket_connect_timeout=5)
    try:
        client.ping()
    except redis.RedisError as e:
        raise StoreUnreachable(_REDIS_HELP.format(url=url, err=e)) from e
    finally:
        client.close()


def drop_redis_prefix(url: str, prefix: str) -> None:
    """Delete every key under ``prefix`` (what one test or one scratch installation wrote)."""
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])
    finally:
        client.close()


class PrivateRedis:
    """A ``redis-server`` of one test on a free port, with an append-only file so that a stop and a
    restart lose nothing that was acknowledged (as a production Redis with persistence)."""

    def __init__(self, log_dir: Path) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            raise StoreUnreachable("redis-server is not installed: `apt-get install redis-server`")
        self.port = free_port()
        self.data_dir = Path(tempfile.mkdtemp(prefix="redis-", dir=log_dir))
        argv = [
            executable,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--save",
            "",
        ]
        self.proc = Proc("redis", argv, {}, log_dir)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        self.proc.start()
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        try:
            eventually_sync(
                lambda: _pings(client), timeout=10, what="private redis-server up", watch=[self.proc]
            )
        finally:
            client.close()
        return self

    def stop(self) -> None:
        self.proc.stop()


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
