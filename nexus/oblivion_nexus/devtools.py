"""Local development: ``oblivion dev`` (the whole Nexus in one process) and ``oblivion trigger``.

``oblivion dev`` migrates the database, then serves the API and runs the worker in one process
against the local PostgreSQL and Redis, and prints what it serves. Secrets it needs and was not
given are generated once into ``.oblivion-dev.env`` (mode 0600) and never printed.

``oblivion trigger clickup-task`` is ``stripe trigger`` for ClickUp: it sends a correctly signed
``taskCreated`` webhook, shaped as ClickUp sends it, to a running Nexus. The worker fetches the task
from ClickUp, so the task must exist there: by default it is created first through the ClickUp API at
``--clickup-api-url`` (a fake, or the real API with a real token); ``--task-id`` triggers for a task
that already exists.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import secrets
import signal
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from oblivion_nexus.settings import NexusSettings

logger = logging.getLogger(__name__)

dev_app = typer.Typer(add_completion=False)
trigger_app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Send signed test webhooks to a running Nexus (like `stripe trigger`).",
)

EXIT_REFUSED = 1
EXIT_USAGE = 2
# The webhook was accepted but the task produced nothing (ignored, or no worker decided).
EXIT_IGNORED = 3
# The ClickUp user a triggered event claims as its author (ClickUp's documentation example user).
_TRIGGER_USER = {
    "id": 183,
    "username": "oblivion trigger",
    "email": None,
    "initials": "OT",
    "profilePicture": None,
}


def _history_id() -> str:
    # ClickUp history ids are 19-digit numbers; a random one keeps every trigger distinct for dedup.
    return str(10**18 + secrets.randbelow(9 * 10**18))


def task_created_payload(
    task_id: str, list_id: str, webhook_id: str, *, status: str = "to do"
) -> dict[str, Any]:
    """A ``taskCreated`` delivery as ClickUp sends it: the initial status item, then the creation item."""
    now = str(int(time.time() * 1000))
    common = {"type": 1, "date": now, "parent_id": list_id, "source": None, "user": _TRIGGER_USER}
    return {
        "event": "taskCreated",
        "history_items": [
            {
                "id": _history_id(),
                **common,
                "field": "status",
                "data": {"status_type": "open"},
                "before": {"status": None, "color": "#000000", "type": "removed", "orderindex": -1},
                "after": {"status": status, "color": "#f9d900", "orderindex": 0, "type": "open"},
            },
            {
                "id": _history_id(),
                **common,
                "field": "task_creation",
                "data": {},
                "before": None,
                "after": None,
            },
        ],
        "task_id": task_id,
        "webhook_id": webhook_id,
    }


# Generated once for `oblivion dev` when not set, and kept in the env file so restarts keep them.
_DEV_SECRETS: dict[str, Callable[[], str]] = {
    "OBLIVION_ADMIN_TOKEN": lambda: "dev-" + secrets.token_urlsafe(24),
    "OBLIVION_JWT_SIGNING_KEY": lambda: secrets.token_urlsafe(48),
    "OBLIVION_MASTER_KEY": lambda: "dev1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
    "OBLIVION_CLICKUP_WEBHOOK_SECRET": lambda: secrets.token_hex(32),
    "OBLIVION_SLACK_SIGNING_SECRET": lambda: secrets.token_hex(16),
}
DEV_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/oblivion"


def _fail(message: str, code: int = EXIT_REFUSED) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _create_task(api_url: str, token: str, list_id: str, name: str, description: str) -> str:
    import httpx

    url = api_url.rstrip("/") + f"/list/{list_id}/task"
    try:
        response = httpx.post(
            url, json={"name": name, "description": description}, headers={"Authorization": token}, timeout=10
        )
    except httpx.HTTPError as e:
        raise _fail(f"ClickUp at {api_url} is unreachable: {type(e).__name__}") from None
    if response.status_code >= 400:
        raise _fail(f"ClickUp refused to create the task: HTTP {response.status_code} {response.text[:200]}")
    task_id = response.json().get("id")
    if not isinstance(task_id, str | int):
        raise _fail("ClickUp answered the task creation without an id")
    return str(task_id)


@trigger_app.command("clickup-task")
def clickup_task(
    list_id: str = typer.Option(..., "--list", help="ClickUp list id of a project registered in Nexus."),
    name: str = typer.Option("Triggered task", "--name", help="Task name."),
    description: str = typer.Option("", "--description", help='Task description, e.g. "@ai-backend …".'),
    task_id: str | None = typer.Option(
        None, "--task-id", help="Trigger for this existing task instead of creating one."
    ),
    nexus_url: str = typer.Option(
        "http://localhost:8080", "--nexus-url", envvar="OBLIVION_PUBLIC_URL", help="The running Nexus."
    ),
    webhook_secret: str = typer.Option(
        ...,
        "--webhook-secret",
        envvar="OBLIVION_CLICKUP_WEBHOOK_SECRET",
        help="Secret to sign with: Nexus's fallback OBLIVION_CLICKUP_WEBHOOK_SECRET (better set in the env).",
        show_default=False,
    ),
    webhook_id: str | None = typer.Option(
        None, "--webhook-id", help="webhook_id of the delivery; a fresh one, unknown to Nexus, by default."
    ),
    clickup_api_url: str = typer.Option(
        "https://api.clickup.com/api/v2/",
        "--clickup-api-url",
        envvar="OBLIVION_CLICKUP_API_URL",
        help="ClickUp API the task is created at (and the worker fetches it from).",
    ),
    clickup_token: str | None = typer.Option(
        None, "--clickup-token", envvar="OBLIVION_CLICKUP_TOKEN", help="ClickUp token creating the task."
    ),
    admin_token: str | None = typer.Option(
        None,
        "--admin-token",
        envvar="OBLIVION_ADMIN_TOKEN",
        help="Registry token: with it, wait for the worker's decision and say why a task was ignored.",
        show_default=False,
    ),
    wait_seconds: float = typer.Option(
        20.0, "--wait", help="How long to wait for the worker to track or ignore the task (with a token)."
    ),
) -> None:
    """Create a task in ClickUp (or take --task-id) and send Nexus a signed taskCreated webhook for it.

    With OBLIVION_ADMIN_TOKEN it then waits for the worker: exit 0 once the task is tracked, 3 when it
    was ignored (the reason is printed: no agent summoned, unknown list, …) or nothing was decided.
    """
    import httpx

    from oblivion_nexus.services.taskflow.signatures import sign_clickup_body

    if task_id is None:
        if not clickup_token:
            raise _fail(
                "pass --task-id of an existing task, or set OBLIVION_CLICKUP_TOKEN to create one", EXIT_USAGE
            )
        task_id = _create_task(clickup_api_url, clickup_token, list_id, name, description)
        typer.echo(f"created ClickUp task {task_id} in list {list_id}")
    payload = task_created_payload(task_id, list_id, webhook_id or str(uuid.uuid4()))
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json", "X-Signature": sign_clickup_body(body, webhook_secret)}
    endpoint = nexus_url.rstrip("/") + "/webhooks/clickup"
    try:
        response = httpx.post(endpoint, content=body, headers=headers, timeout=10)
    except httpx.HTTPError as e:
        raise _fail(f"Nexus at {nexus_url} is unreachable: {type(e).__name__}") from None
    typer.echo(f"POST {endpoint} taskCreated task_id={task_id} -> {response.status_code}")
    if response.status_code >= 300:
        raise _fail(f"Nexus refused the webhook: {response.text[:300]}")
    if not admin_token:
        typer.echo(
            "accepted; set OBLIVION_ADMIN_TOKEN (e.g. from .oblivion-dev.env) to wait for the worker and "
            "see whether the task was tracked or why it was ignored"
        )
        return
    _report_outcome(nexus_url, admin_token, task_id, wait_seconds)


def _report_outcome(nexus_url: str, admin_token: str, task_id: str, wait_seconds: float) -> None:
    """Poll the registry until the worker tracked or ignored the task; exit non-zero unless tracked."""
    import httpx

    url = nexus_url.rstrip("/") + f"/internal/v1/tasks/{task_id}"
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            answer = httpx.get(url, headers={"Authorization": f"Bearer {admin_token}"}, timeout=10)
        except httpx.HTTPError as e:
            raise _fail(f"Nexus at {nexus_url} is unreachable: {type(e).__name__}") from None
        if answer.status_code != 200:
            raise _fail(
                f"Nexus did not tell the task's outcome: HTTP {answer.status_code} {answer.text[:200]}"
            )
        found = answer.json()
        # Tracked comes first, the thread a moment later: wait for it while the deadline allows.
        if found["outcome"] == "tracked" and (found["threadTs"] or time.monotonic() > deadline):
            agents = ", ".join(found["agents"]) or "none yet"
            thread = (
                f"Slack thread {found['threadTs']} in channel {found['slackChannelId']}"
                if found["threadTs"]
                else "no Slack thread yet (the worker's log says why; is OBLIVION_SLACK_BOT_TOKEN set?)"
            )
            typer.echo(
                f"task {task_id} is tracked in {found['workgroup']}/{found['project']}: {thread}, "
                f"agents: {agents}"
            )
            return
        if found["outcome"] == "ignored":
            raise _fail(f"task {task_id} was ignored: {found['explanation']}", EXIT_IGNORED)
        if found["outcome"] != "tracked" and time.monotonic() > deadline:
            raise _fail(
                f"the worker did not decide about task {task_id} within {wait_seconds:.0f} s: is "
                "`oblivion nexus worker` (or `oblivion dev`) running against this Nexus?",
                EXIT_IGNORED,
            )
        time.sleep(0.25)  # polling interval while waiting for the worker, bounded by the deadline


def _read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep and key.strip().startswith("OBLIVION_"):
                values[key.strip()] = value.strip()
    return values


def prepare_dev_environment(env_file: Path) -> list[str]:
    """Fill ``os.environ`` with what a local Nexus needs; returns the variables newly generated."""
    stored = _read_env_file(env_file)
    generated: list[str] = []
    for name, make in _DEV_SECRETS.items():
        if name in os.environ:
            continue
        if name not in stored:
            stored[name] = make()
            generated.append(name)
        os.environ[name] = stored[name]
    if generated:
        env_file.touch(mode=0o600, exist_ok=True)
        env_file.chmod(0o600)
        env_file.write_text("".join(f"{key}={value}\n" for key, value in sorted(stored.items())))
    os.environ.setdefault("OBLIVION_DATABASE_URL", DEV_DATABASE_URL)
    return generated


def _without_password(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in credentials:
        return url
    return f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}"


def _ensure_database(database_url: str) -> None:
    """Create the database of a local PostgreSQL when it does not exist yet (dev only)."""
    import psycopg
    from psycopg import sql

    conninfo = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    base, _, name = conninfo.rpartition("/")
    name = name.split("?", 1)[0]
    try:
        with psycopg.connect(f"{base}/postgres", autocommit=True, connect_timeout=5) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                typer.echo(f"created database {name}")
    except psycopg.Error as e:
        raise _fail(f"PostgreSQL at {_without_password(database_url)} is not usable: {e}", 3) from None


def _memory_line(settings: NexusSettings) -> str:
    memory = settings.memory
    store = memory.qdrant_url or f"embedded at {memory.data_dir}"
    embedder = memory.embedding_url or "the local model"
    return f"{store}, embeddings from {embedder} (POST /v1/memory/search)"


def _banner(settings: NexusSettings, env_file: Path) -> str:
    host = "127.0.0.1" if settings.http.host in ("0.0.0.0", "::") else settings.http.host  # noqa: S104
    url = f"http://{host}:{settings.http.port}"
    slack = (
        settings.slack.api_url if settings.slack.bot_token else "not configured (OBLIVION_SLACK_BOT_TOKEN)"
    )
    clickup = (
        settings.clickup.api_url if settings.clickup.token else "not configured (OBLIVION_CLICKUP_TOKEN)"
    )
    return "\n".join(
        [
            "Oblivion dev: API and worker in one process",
            f"  API             {url}  (health {url}/healthz, ready {url}/readyz)",
            f"  registry        {url}/internal/v1  (Bearer OBLIVION_ADMIN_TOKEN)",
            f"  agents          {url}/oauth/token, {url}/v1/agents/connect, {url}/v1/tasks",
            f"  webhooks        {url}/webhooks/clickup, {url}/webhooks/slack",
            f"  PostgreSQL      {_without_password(settings.database.url)}",
            f"  Redis           {_without_password(settings.redis.url)} (prefix {settings.redis.prefix})",
            f"  Memory Bank     {_memory_line(settings)}",
            f"  Slack API       {slack}",
            f"  ClickUp API     {clickup}",
            f"  secrets         {env_file.resolve()} (generated ones; never printed)",
            "Try: oblivion trigger clickup-task --list <list id> --name 'Fix login' "
            f"--description '@<agent alias> …' --nexus-url {url}",
        ]
    )


async def _serve_dev(settings: NexusSettings) -> None:
    import uvicorn

    from oblivion_nexus.app import create_app
    from oblivion_nexus.observability import DeliveryMetrics
    from oblivion_nexus.stores.db import create_engine, migrate
    from oblivion_nexus.worker import running_worker

    engine = create_engine(settings.database.url, pool_size=1)
    try:
        status = await migrate(engine)
    finally:
        await engine.dispose()
    typer.echo(f"database schema at revision {status.current}")
    # One set of counters for the API and the worker, so /metrics counts the events the worker queues.
    metrics = DeliveryMetrics()
    config = uvicorn.Config(
        create_app(settings, delivery_metrics=metrics),
        host=settings.http.host,
        port=settings.http.port,
        log_config=None,
        ws="websockets-sansio",
        lifespan="on",
        access_log=False,  # AccessLogMiddleware writes the line, after the response
    )
    server = uvicorn.Server(config)
    # uvicorn re-raises the signal that stopped it to the handler it found; with none installed the
    # default SIGTERM action would kill the process before the worker finished its running jobs.
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, setattr, server, "should_exit", True)
    async with running_worker(settings, metrics):
        await server.serve()  # until SIGINT/SIGTERM; then the worker finishes its running jobs


@dev_app.command("dev")
def dev(
    env_file: Path = typer.Option(
        Path(".oblivion-dev.env"), "--env-file", help="Where generated dev secrets are kept (mode 0600)."
    ),
    qdrant_path: Path = typer.Option(
        Path(".oblivion-dev/qdrant"),
        "--qdrant-path",
        envvar="OBLIVION_QDRANT_PATH",
        help="The operator's embedded Qdrant directory (set for an operator run beside it).",
    ),
    memory_dir: Path = typer.Option(
        Path(".oblivion-dev/memory"),
        "--memory-dir",
        envvar="OBLIVION_MEMORY_DATA_DIR",
        help="The Memory Bank's embedded engine (the worker in this process owns it).",
    ),
    host: str = typer.Option(
        "127.0.0.1",
        "--host",
        envvar="OBLIVION_HOST",
        help="Address to listen on; loopback by default, since a dev Nexus has generated secrets and "
        "no TLS (pass 0.0.0.0 to reach it from other machines).",
    ),
) -> None:
    """Run Nexus's API and worker in one process against local PostgreSQL and Redis (migrates first)."""
    from oblivion_nexus.logs import configure_logging
    from oblivion_nexus.settings import SettingsError, load_settings
    from oblivion_nexus.stores.db import DatabaseError

    generated = prepare_dev_environment(env_file)
    os.environ["OBLIVION_HOST"] = host
    os.environ.setdefault("OBLIVION_QDRANT_PATH", str(qdrant_path))
    qdrant_path.mkdir(parents=True, exist_ok=True)
    os.environ["OBLIVION_MEMORY_DATA_DIR"] = str(memory_dir)
    try:
        settings = load_settings()
    except SettingsError as e:
        raise _fail(str(e), EXIT_USAGE) from None
    configure_logging(settings.logging.level, settings.logging.format)
    if generated:
        typer.echo(f"generated {', '.join(generated)} into {env_file}")
    _ensure_database(settings.database.url)
    typer.echo(_banner(settings, env_file))
    try:
        asyncio.run(_serve_dev(settings))
    except DatabaseError as e:
        raise _fail(f"Nexus cannot start: {e}", 3) from None
