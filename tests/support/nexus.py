"""Run a real Nexus for tests: in-process under uvicorn on a free loopback port (:func:`running_nexus`),
or as a subprocess ``oblivion nexus serve`` exactly as deployed (:func:`nexus_process`). Both wait for
readiness with a deadline, never a sleep.

Usage (async test)::

    settings = nexus_settings(nexus_env)
    migrate_database(settings.database.url)
    async with running_nexus(settings) as nexus:
        httpx.get(nexus.url + "/readyz")

    with nexus_process(nexus_env) as proc:  # migrates first unless migrate=False
        httpx.get(proc.url + "/readyz")

    with nexus_process(nexus_env), nexus_worker_process(nexus_env) as worker:
        ...
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from alembic import command
from fastapi import FastAPI
from sqlalchemy import create_engine

from oblivion_nexus.app import create_app
from oblivion_nexus.logs import SERVER_LOGGERS
from oblivion_nexus.observability import DeliveryMetrics
from oblivion_nexus.settings import NexusSettings, load_settings
from oblivion_nexus.stores.db import alembic_config
from tests.support.processes import STARTUP_SECONDS, Proc, oblivion_executable, run_oblivion
from tests.support.servers import bound_socket, free_port, serving_asgi
from tests.support.waiting import eventually_sync


def nexus_settings(env: Mapping[str, str], **overrides: object) -> NexusSettings:
    """Settings from an ``OBLIVION_*`` mapping such as the ``nexus_env`` fixture, plus overrides named
    by their variable without the prefix (``heartbeat_seconds=1`` sets OBLIVION_HEARTBEAT_SECONDS)."""
    return load_settings({**env, **{f"OBLIVION_{name.upper()}": v for name, v in overrides.items()}})


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
        return {"Authorization": f"Bearer {self.settings.security.admin_token.get_secret_value()}"}


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
    sock = bound_socket()
    port = sock.getsockname()[1]
    try:
        async with serving_asgi(
            app,
            sock,
            timeout=STARTUP_SECONDS,
            what="Nexus",
            log_config=None,
            lifespan="on",
            ws="websockets-sansio",
            access_log=False,
        ):
            yield RunningNexus(url=f"http://127.0.0.1:{port}", app=app, settings=settings)
    finally:
        sock.close()


@dataclass
class NexusProcess:
    url: str
    proc: Proc
    env: dict[str, str] = field(repr=False)  # holds the admin token and keys

    @property
    def process(self) -> subprocess.Popen[bytes]:
        assert self.proc.popen is not None
        return self.proc.popen

    @property
    def log_path(self) -> Path:
        return self.proc.log_path

    def output(self) -> str:
        return self.proc.output()

    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.env['OBLIVION_ADMIN_TOKEN']}"}


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
    proc = Proc("nexus", [oblivion_executable(), "nexus", "serve"], full_env, Path(tempfile.gettempdir()))
    handle = NexusProcess(
        url=f"http://127.0.0.1:{full_env['OBLIVION_PORT']}", proc=proc.start(), env=full_env
    )
    try:
        if ready:
            eventually_sync(
                lambda: _healthy(handle.url),
                timeout=STARTUP_SECONDS,
                what="oblivion nexus serve to answer /healthz",
                watch=[proc],
                context=lambda: proc.output(4000),
            )
        yield handle
    finally:
        proc.stop()


@contextlib.contextmanager
def nexus_worker_process(env: Mapping[str, str]) -> Iterator[Proc]:
    """``oblivion nexus worker`` as a child process (the database already migrated); the block starts
    once it consumes its queues (so, with the embedded engine, answers the API's memory requests)."""
    proc = Proc("nexus-worker", [oblivion_executable(), "nexus", "worker"], env, Path(tempfile.gettempdir()))
    proc.start()
    try:
        eventually_sync(
            lambda: "worker consuming" in proc.output(),
            timeout=STARTUP_SECONDS,
            what="oblivion nexus worker to consume",
            watch=[proc],
            context=lambda: proc.output(4000),
        )
        yield proc
    finally:
        proc.stop()


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url + "/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False
