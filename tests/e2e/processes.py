"""Child processes and data stores of the end-to-end tests: start, watch, stop, wait with deadlines.

Children run in their own process group, so ``kill -9`` takes a process and whatever it started; every
wait has a deadline and names what did not happen (and which child died meanwhile). The machine's
shared Redis and PostgreSQL are never stopped: a test that needs Redis to go away gets a private
``redis-server`` on a free port (:class:`PrivateRedis`).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import redis

from tests.nexus_server import free_port

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).parents[2]
PG_ADMIN_DSN = os.environ.get("OBLIVION_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
STARTUP_SECONDS = 30.0  # a Python process importing FastAPI and SQLAlchemy starts in 1-3 s on a slow box
STOP_SECONDS = 15.0
_POLL = 0.05  # seconds between two looks at a condition: a polling interval, not synchronisation
T = TypeVar("T")


class HarnessError(Exception):
    """A process of the end-to-end stack did not start, died, or a condition never came true."""


def _give_up_if_hopeless(deadline: float, timeout: float, what: str, watch: Sequence[Proc]) -> None:
    """Fail a wait whose deadline passed, or whose watched child died (with that child's output)."""
    for proc in watch:
        if not proc.alive:
            raise HarnessError(
                f"{proc.name} exited with {proc.returncode} while waiting for {what}:\n{proc.output(4000)}"
            )
    if time.monotonic() > deadline:
        raise HarnessError(f"{what} did not happen within {timeout} s")


def wait_for(check: Callable[[], T | None], *, timeout: float, what: str, watch: Sequence[Proc] = ()) -> T:
    """Poll ``check()`` until it returns something truthy; fail naming ``what`` (and a dead child)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        _give_up_if_hopeless(deadline, timeout, what, watch)
        time.sleep(_POLL)


async def eventually(
    check: Callable[[], Any], *, timeout: float, what: str, watch: Sequence[Proc] = ()
) -> Any:
    """Like :func:`wait_for` inside a test's event loop; ``check`` may be sync or async."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        _give_up_if_hopeless(deadline, timeout, what, watch)
        await asyncio.sleep(_POLL)


class Proc:
    """One child process in its own process group, its output in a log file."""

    def __init__(self, name: str, argv: Sequence[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = env
        self.log_path = log_dir / f"{name}-{uuid.uuid4().hex[:6]}.log"
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        base = {k: v for k, v in os.environ.items() if not k.startswith("OBLIVION_")}
        with self.log_path.open("wb") as log:
            self.popen = subprocess.Popen(
                self.argv,
                cwd=REPO_ROOT,
                env={**base, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: signals reach its children too
            )
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None, f"{self.name} was never started"
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def signal(self, signum: int) -> None:
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signum)

    def kill(self) -> None:
        """``kill -9`` of the process group, then reap it."""
        self.signal(signal.SIGKILL)
        if self.popen is not None:
            self.popen.wait(STOP_SECONDS)

    def stop(self, timeout: float = STOP_SECONDS) -> int | None:
        """SIGTERM, then SIGKILL if it has not exited within ``timeout``; returns the exit code."""
        if self.popen is None:
            return None
        if self.alive:
            self.signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                logger.warning("%s ignored SIGTERM for %.0f s; killing it", self.name, timeout)
                self.kill()
        return self.popen.poll()

    def output(self, tail: int | None = None) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return text if tail is None else text[-tail:]


# ---- data stores -----------------------------------------------------------------------------------


@contextlib.contextmanager
def fresh_database() -> Iterator[str]:
    """A new, empty database on the local PostgreSQL (dropped afterwards); yields its URL."""
    name = f"oblivion_e2e_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as e:
        raise HarnessError(f"PostgreSQL is not reachable at {PG_ADMIN_DSN}: {e}; run `bash .ci/run`") from e
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_DSN.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def drop_redis_prefix(url: str, prefix: str) -> None:
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
            raise HarnessError("redis-server is not installed: `apt-get install redis-server`")
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
            wait_for(lambda: _pings(client), timeout=10, what="private redis-server up", watch=[self.proc])
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
