"""``oblivion nexus …``: run the API, migrate the database, reseal credentials after a key rotation.

Mounted by ``oblivion_cli.main``.

Heavy imports happen inside the commands so ``oblivion --help`` stays fast. Exit codes: 2 for a
missing or malformed setting, 3 for a database that is unreachable or not migrated.
"""

from __future__ import annotations

import asyncio
import gc
import logging

import typer

# `oblivion dev` and `oblivion trigger` (local development), mounted by ``oblivion_cli``.
from oblivion_nexus.devtools import dev_app as dev_app
from oblivion_nexus.devtools import trigger_app as trigger_app
from oblivion_nexus.settings import SettingsError

logger = logging.getLogger(__name__)

EXIT_SETTINGS = 2
EXIT_DATABASE = 3

app = typer.Typer(no_args_is_help=True, add_completion=False)


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


@app.command()
def serve() -> None:
    """Serve the Nexus API (registry, OAuth2 token, agent gateway) on OBLIVION_HOST:OBLIVION_PORT."""
    import uvicorn

    from oblivion_nexus.app import create_app
    from oblivion_nexus.logs import configure_logging
    from oblivion_nexus.settings import load_settings
    from oblivion_nexus.stores.db import DatabaseError, create_engine, require_schema_at_head

    try:
        settings = load_settings()
    except SettingsError as e:
        raise _fail(str(e), EXIT_SETTINGS) from None
    configure_logging(settings.logging.level, settings.logging.format)

    async def check_schema() -> None:
        engine = create_engine(settings.database.url, pool_size=1)
        try:
            await require_schema_at_head(engine)
        finally:
            await engine.dispose()

    try:
        asyncio.run(check_schema())
    except DatabaseError as e:
        raise _fail(f"Nexus cannot start: {e}", EXIT_DATABASE) from None
    nexus_app = create_app(settings)
    # A long-lived server holding thousands of agent connections: move the start-up heap (modules,
    # classes) out of the collector's reach and collect the old generation rarely, so a full GC
    # pass does not stall delivery for hundreds of milliseconds (see bench/ws_gateway.py).
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    uvicorn.run(
        nexus_app,
        host=settings.http.host,
        port=settings.http.port,
        log_config=None,
        proxy_headers=True,
        ws="websockets-sansio",
        # No WebSocket pings of uvicorn's own: the HEARTBEAT frames already find dead peers, and
        # 10,000 connections would otherwise add 500 ping/pong pairs a second.
        ws_ping_interval=None,
        lifespan="on",
        access_log=False,  # AccessLogMiddleware writes the line, after the response
    )


@app.command()
def worker() -> None:
    """Consume queued webhooks (the task flow) until SIGTERM or SIGINT."""
    import signal

    from oblivion_nexus.logs import configure_logging
    from oblivion_nexus.settings import load_settings
    from oblivion_nexus.stores.db import DatabaseError
    from oblivion_nexus.worker import serve_worker

    try:
        settings = load_settings()
    except SettingsError as e:
        raise _fail(str(e), EXIT_SETTINGS) from None
    configure_logging(settings.logging.level, settings.logging.format)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve_worker(settings, stop)

    try:
        asyncio.run(run())
    except DatabaseError as e:
        raise _fail(f"worker cannot start: {e}", EXIT_DATABASE) from None


@app.command()
def migrate() -> None:
    """Bring the database at OBLIVION_DATABASE_URL to the schema this Nexus needs (idempotent)."""
    from oblivion_nexus.logs import configure_logging
    from oblivion_nexus.settings import load_migration_settings
    from oblivion_nexus.stores.db import DatabaseError, create_engine, migrate

    try:
        settings = load_migration_settings()
    except SettingsError as e:
        raise _fail(str(e), EXIT_SETTINGS) from None
    configure_logging(settings.logging.level, settings.logging.format)

    async def run() -> str | None:
        engine = create_engine(settings.database.url, pool_size=1)
        try:
            return (await migrate(engine)).current
        finally:
            await engine.dispose()

    try:
        revision = asyncio.run(run())
    except DatabaseError as e:
        raise _fail(f"migration failed: {e}", EXIT_DATABASE) from None
    typer.echo(f"database schema at revision {revision}")


@app.command("reseal-credentials")
def reseal_credentials() -> None:
    """Re-encrypt every credential under the first key of OBLIVION_MASTER_KEY (after a key rotation)."""
    from oblivion_nexus.logs import configure_logging
    from oblivion_nexus.services.registry.credentials import reseal_credentials as reseal
    from oblivion_nexus.settings import load_settings
    from oblivion_nexus.stores.crypto import MasterKeys
    from oblivion_nexus.stores.db import (
        DatabaseError,
        create_engine,
        create_sessionmaker,
        require_schema_at_head,
    )

    try:
        settings = load_settings()
    except SettingsError as e:
        raise _fail(str(e), EXIT_SETTINGS) from None
    configure_logging(settings.logging.level, settings.logging.format)
    keys = MasterKeys.parse(settings.security.master_key.get_secret_value())

    async def run() -> tuple[int, list[str]]:
        engine = create_engine(settings.database.url, pool_size=1)
        try:
            await require_schema_at_head(engine)
            async with create_sessionmaker(engine)() as session:
                return await reseal(session, keys)
        finally:
            await engine.dispose()

    try:
        count, unopenable = asyncio.run(run())
    except DatabaseError as e:
        raise _fail(f"resealing failed: {e}", EXIT_DATABASE) from None
    typer.echo(f"resealed {count} credentials under master key {keys.current_key_id}")
    if unopenable:
        raise _fail(
            f"{len(unopenable)} credentials open under none of the listed keys and were left as they are: "
            + ", ".join(unopenable),
            1,
        )


audit_app = typer.Typer(no_args_is_help=True, add_completion=False)


@audit_app.command("verify")
def audit_verify(
    workgroup: str = typer.Option(..., "--workgroup", "-w", help="The workgroup whose trail to check."),
) -> None:
    """Check a workgroup's Tool Gateway audit chain: exit 0 when intact, 1 naming every break."""
    from sqlalchemy.exc import SQLAlchemyError

    from oblivion_nexus.logs import configure_logging
    from oblivion_nexus.services.tools.audit_log import ToolAuditLog
    from oblivion_nexus.settings import load_migration_settings
    from oblivion_nexus.stores.db import DatabaseError, create_engine, create_sessionmaker

    try:
        settings = load_migration_settings()
    except SettingsError as e:
        raise _fail(str(e), EXIT_SETTINGS) from None
    configure_logging(settings.logging.level, settings.logging.format)

    async def run() -> tuple[int, list[tuple[int, str]]]:
        engine = create_engine(settings.database.url, pool_size=1)
        try:
            count, breaks = await ToolAuditLog(create_sessionmaker(engine)).verify(workgroup)
            return count, [(b.seq, b.reason) for b in breaks]
        finally:
            await engine.dispose()

    try:
        count, breaks = asyncio.run(run())
    except (DatabaseError, SQLAlchemyError, OSError) as e:
        raise _fail(f"the audit trail could not be read: {type(e).__name__}", EXIT_DATABASE) from None
    for seq, reason in breaks:
        typer.echo(f"record {seq}: {reason}")
    if breaks:
        raise _fail(f"the audit chain of {workgroup} is broken in {len(breaks)} places ({count} records)", 1)
    typer.echo(f"the audit chain of {workgroup} is intact: {count} records")


memory_app = typer.Typer(no_args_is_help=True, add_completion=False)


@memory_app.command("backfill")
def memory_backfill(
    workgroup: str = typer.Option(..., "--workgroup", "-w", help="The project's workgroup."),
    project: str = typer.Option(..., "--project", "-p", help="The project whose history to copy."),
) -> None:
    """Copy a project's Slack history and ClickUp tasks into the Memory Bank (a running worker
    embeds them). Waits out Slack's and ClickUp's rate limits as they say, prints its progress, and
    resumes where it stopped when run again; a finished one run again reads everything again, which
    duplicates nothing. Refused (exit 1, naming the holder) while another backfill of the project,
    from this command or the admin route, is queued or running."""
    from redis.exceptions import RedisError
    from sqlalchemy.exc import SQLAlchemyError

    from oblivion_nexus.logs import configure_logging
    from oblivion_nexus.resources import open_resources
    from oblivion_nexus.services.memory.runtime import memory_handover
    from oblivion_nexus.services.taskflow.backfill_runs import running_lease, this_process
    from oblivion_nexus.services.taskflow.context import FlowContext
    from oblivion_nexus.services.taskflow.errors import FlowError
    from oblivion_nexus.services.taskflow.memory_backfill import backfill_project
    from oblivion_nexus.settings import load_settings
    from oblivion_nexus.stores.db import DatabaseError
    from oblivion_nexus.stores.leases import LeaseLost

    try:
        settings = load_settings()
    except SettingsError as e:
        raise _fail(str(e), EXIT_SETTINGS) from None
    configure_logging(settings.logging.level, settings.logging.format)

    def say(progress: dict[str, object]) -> None:
        if "waiting" in progress:
            typer.echo(f"rate limited: waiting {progress['waiting']:.0f} s for {progress['for']}")
            return
        threads = progress.get("threads")
        to_go = len(threads) if isinstance(threads, list) else 0
        typer.echo(
            f"{progress.get('state')}: {progress.get('messages')} messages, "
            f"{progress.get('threads_read')} threads read ({to_go} to go), "
            f"{progress.get('tasks')} tasks, {progress.get('comments')} comments"
        )

    async def run() -> str | None:
        async with open_resources(settings) as resources, memory_handover(settings) as handover:
            holder = this_process("oblivion memory backfill")
            lease = running_lease(resources.redis, settings.redis.prefix, workgroup, project, holder)
            held = await lease.acquire()
            if held is not None:
                return f"{held.get('kind')} already: {held.get('holder')}"
            flow = FlowContext.create(resources, memory=handover)
            async with lease.kept():
                await backfill_project(flow, workgroup, project, say)
        return None

    try:
        busy = asyncio.run(run())
    except (FlowError, LeaseLost) as e:
        raise _fail(f"backfill of {workgroup}/{project}: {e}", 1) from None
    except RedisError as e:
        raise _fail(f"backfill cannot reach Redis: {type(e).__name__}", EXIT_DATABASE) from None
    except (DatabaseError, SQLAlchemyError, OSError) as e:
        raise _fail(f"backfill cannot reach the database: {type(e).__name__}", EXIT_DATABASE) from None
    if busy is not None:
        raise _fail(f"backfill of {workgroup}/{project} is {busy}", 1)
