"""Run a real Nexus for tests: in-process under uvicorn on a free loopback port, or as a subprocess
``oblivion nexus serve`` exactly as deployed. Both wait for readiness with a deadline, never a sleep.

Usage (async test)::

    settings = nexus_settings(nexus_env)
    migrate_database(settings.database_url)
    async with running_nexus(settings) as nexus:
        httpx.get(nexus.url + "/readyz")

    with nexus_process(nexus_env) as proc:  # migrates first unless migrate=False
        httpx.get(proc.url + "/readyz")
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import uvicorn
from alembic import command
from fastapi import FastAPI
from sqlalchemy import create_engine

from oblivion_nexus.app import create_app
from oblivion_nexus.logs import SERVER_LOGGERS
from oblivion_nexus.observability import DeliveryMetrics
from oblivion_nexus.settings import NexusSettings
from oblivion_nexus.stores.db import alembic_config

STARTUP_DEADLINE_SECONDS = 30.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def nexus_settings(env: Mapping[str, str], **overrides: object) -> NexusSettings:
    """Settings from an ``OBLIVION_*`` mapping such as the ``nexus_env`` fixture, plus overrides."""
    values: dict[str, object] = {k.removeprefix("OBLIVION_").lower(): v for k, v in env.items()}
    values.update(overrides)
    return NexusSettings(**values)  # type: ignore[arg-type]


def migrate_database(database_url: str) -> None:
    """``oblivion nexus migrate`` in-process (synchronously, so it also works inside a running loop)."""
    engine = create_engine(database_url)
    try:
        with engine.begin() as conn:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    finally:
        engine.dispose()


@dataclass
class RunningNexus:
    url: str
    app: FastAPI
    settings: NexusSettings

    @property
    def ws_url(self) -> str:
        return "ws" + self.url.removeprefix("http")

    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.admin_token.get_secret_value()}"}


def _route_server_logs_to_root() -> None:
    """Undo what an earlier ``uvicorn.Config`` with uvicorn's default logging did to its loggers
    (own handlers, ``propagate=False``), so this server's lines reach pytest and the secret check,
    as they reach the handler of a deployed ``oblivion nexus serve``."""
    for name in SERVER_LOGGERS:
        server_logger = logging.getLogger(name)
        server_logger.handlers.clear()
        server_logger.setLevel(logging.NOTSET)
        server_logger.propagate = True


@contextlib.asynccontextmanager
async def running_nexus(
    settings: NexusSettings, *, delivery_metrics: DeliveryMetrics | None = None
) -> AsyncIterator[RunningNexus]:
    """Serve ``create_app(settings)`` on 127.0.0.1 until the block ends; the database must be migrated.
    ``delivery_metrics`` are shared with a worker in the same process, as ``oblivion dev`` does."""
    app = create_app(settings, delivery_metrics=delivery_metrics)
    _route_server_logs_to_root()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_config=None, lifespan="on", ws="websockets-sansio")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        deadline = time.monotonic() + STARTUP_DEADLINE_SECONDS
        while not server.started:
            if task.done():
                task.result()  # raises what made start-up fail
                raise RuntimeError("Nexus stopped during start-up (see the log above)")
            if time.monotonic() > deadline:
                raise TimeoutError(f"Nexus did not start within {STARTUP_DEADLINE_SECONDS} s")
            await asyncio.sleep(0.01)
        yield RunningNexus(url=f"http://127.0.0.1:{port}", app=app, settings=settings)
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 15)
        sock.close()


@dataclass
class NexusProcess:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str] = field(repr=False)  # holds the admin token and keys

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.env['OBLIVION_ADMIN_TOKEN']}"}


def oblivion_executable() -> str:
    path = Path(sys.executable).parent / "oblivion"
    if not path.exists():
        raise RuntimeError(f"{path} is missing: install the project with `.venv/bin/pip install -e '.[dev]'`")
    return str(path)


def run_oblivion(*args: str, env: Mapping[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``oblivion <args>`` with exactly the ``OBLIVION_*`` variables given (plus PATH and HOME)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("OBLIVION_")}
    return subprocess.run(
        [oblivion_executable(), *args], env={**base, **env}, capture_output=True, text=True, timeout=timeout
    )


@contextlib.contextmanager
def nexus_process(
    env: Mapping[str, str], *, migrate: bool = True, ready: bool = True
) -> Iterator[NexusProcess]:
    """``oblivion nexus serve`` as a child process on a free port; stopped with SIGTERM afterwards.

    With ``ready`` the block starts once ``/healthz`` answers; otherwise right after launch (to watch
    a start-up that is meant to fail, wait on ``process``).
    """
    full_env = {**env, "OBLIVION_HOST": "127.0.0.1", "OBLIVION_PORT": str(free_port())}
    if migrate:
        result = run_oblivion("nexus", "migrate", env=full_env)
        if result.returncode != 0:
            raise RuntimeError(f"oblivion nexus migrate failed:\n{result.stdout}{result.stderr}")
    base = {k: v for k, v in os.environ.items() if not k.startswith("OBLIVION_")}
    with tempfile.NamedTemporaryFile(prefix="nexus-", suffix=".log", delete=False) as log:
        log_path = Path(log.name)
    url = f"http://127.0.0.1:{full_env['OBLIVION_PORT']}"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [oblivion_executable(), "nexus", "serve"],
            env={**base, **full_env},
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    handle = NexusProcess(url=url, process=proc, log_path=log_path, env=full_env)
    try:
        if ready:
            _wait_healthy(handle)
        yield handle
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def _wait_healthy(handle: NexusProcess) -> None:
    deadline = time.monotonic() + STARTUP_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if handle.process.poll() is not None:
            raise RuntimeError(
                f"oblivion nexus serve exited with {handle.process.returncode}:\n{handle.output()}"
            )
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(handle.url + "/healthz", timeout=1).status_code == 200:
                return
        time.sleep(0.05)  # polling interval of a readiness wait, not synchronisation
    raise TimeoutError(
        f"oblivion nexus serve did not answer within {STARTUP_DEADLINE_SECONDS} s:\n{handle.output()}"
    )
