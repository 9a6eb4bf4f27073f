"""Oblivion's primary flow as real processes, for the end-to-end tests and ``bench/magic_moment.py``.

Every component runs as it is deployed: two ``oblivion nexus serve`` replicas, one ``oblivion nexus
worker``, agents through ``oblivion agent run``, and the fake Slack and ClickUp as their own processes
(``python -m tests.fakes.clickup``; the fake Slack through ``python -m tests.e2e.harness fake-slack``,
which adds a small control API beside the Web API so a test in another process can read the workspace
and plan rate limits). Children run in their own process group, so ``kill -9`` takes a process and
whatever it started; every wait has a deadline and names what did not happen.

The machine's shared Redis and PostgreSQL are never stopped: a test that needs Redis to go away gets a
private ``redis-server`` on a free port (:func:`private_redis`).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import inspect
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg
import redis

from tests.nexus_server import free_port, oblivion_executable

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).parents[2]
PG_ADMIN_DSN = os.environ.get("OBLIVION_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
STARTUP_SECONDS = 30.0  # a Python process importing FastAPI and SQLAlchemy starts in 1-3 s on a slow box
STOP_SECONDS = 15.0
_POLL = 0.05  # seconds between two looks at a condition: a polling interval, not synchronisation
T = TypeVar("T")


class HarnessError(Exception):
    """A process of the end-to-end stack did not start, died, or a condition never came true."""


def wait_for(check: Callable[[], T | None], *, timeout: float, what: str, watch: Sequence[Proc] = ()) -> T:
    """Poll ``check()`` until it returns something truthy; fail naming ``what`` (and a dead child)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        for proc in watch:
            if not proc.alive:
                raise HarnessError(
                    f"{proc.name} exited with {proc.returncode} while waiting for {what}:\n"
                    f"{proc.output(4000)}"
                )
        if time.monotonic() > deadline:
            raise HarnessError(f"{what} did not happen within {timeout} s")
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
        for proc in watch:
            if not proc.alive:
                raise HarnessError(
                    f"{proc.name} exited with {proc.returncode} while waiting for {what}:\n"
                    f"{proc.output(4000)}"
                )
        if time.monotonic() > deadline:
            raise HarnessError(f"{what} did not happen within {timeout} s")
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


# ---- the fakes as processes ------------------------------------------------------------------------


class SlackProcess:
    """The fake Slack in its own process; the test reads its workspace through the control API."""

    def __init__(self, log_dir: Path, bot_token: str = "xoxb-test-token") -> None:
        self.port, self.control_port = free_port(), free_port()
        self.bot_token = bot_token
        argv = [
            sys.executable,
            "-m",
            "tests.e2e.harness",
            "fake-slack",
            "--port",
            str(self.port),
            "--control-port",
            str(self.control_port),
            "--token",
            bot_token,
        ]
        self.proc = Proc("fake-slack", argv, {}, log_dir)
        self._http = httpx.Client(base_url=f"http://127.0.0.1:{self.control_port}", timeout=10)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def start(self) -> SlackProcess:
        self.proc.start()
        wait_for(
            lambda: _answers(self._http, "/_fake/channels"),
            timeout=STARTUP_SECONDS,
            what="fake Slack up",
            watch=[self.proc],
        )
        return self

    def stop(self) -> None:
        self._http.close()
        self.proc.stop()

    def _get(self, path: str, **params: Any) -> Any:
        response = self._http.get(path, params=params)
        response.raise_for_status()
        return response.json()

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        response = self._http.post(path, json=body)
        response.raise_for_status()
        return response.json()

    def add_channel(self, name: str) -> str:
        return str(self._post("/_fake/channels", {"name": name})["id"])

    @property
    def channels(self) -> list[dict[str, Any]]:
        return list(self._get("/_fake/channels"))

    def messages(self, channel_id: str) -> list[dict[str, Any]]:
        return list(self._get(f"/_fake/channels/{channel_id}/messages"))

    def roots(self, channel_id: str) -> list[dict[str, Any]]:
        return [m for m in self.messages(channel_id) if m.get("thread_ts") in (None, m["ts"])]

    def replies(self, channel_id: str, thread_ts: str) -> list[dict[str, Any]]:
        return [
            m for m in self.messages(channel_id) if m.get("thread_ts") == thread_ts and m["ts"] != thread_ts
        ]

    def roots_by_task(self, channel_id: str) -> dict[str, list[dict[str, Any]]]:
        """Root messages of a channel grouped by the ClickUp task id in their metadata."""
        found: dict[str, list[dict[str, Any]]] = {}
        for message in self.roots(channel_id):
            payload = (message.get("metadata") or {}).get("event_payload") or {}
            if payload.get("task_id"):
                found.setdefault(str(payload["task_id"]), []).append(message)
        return found

    def calls(self, method: str) -> list[dict[str, Any]]:
        return list(self._get("/_fake/calls", method=method))

    def rate_limit(self, method: str, *, times: int, retry_after: float) -> None:
        self._post("/_fake/rate_limit", {"method": method, "times": times, "retry_after": retry_after})

    def post_as_user(self, channel_id: str, text: str, *, thread_ts: str | None = None) -> dict[str, Any]:
        return dict(
            self._post(f"/_fake/channels/{channel_id}/messages", {"text": text, "thread_ts": thread_ts})
        )


class ClickUpProcess:
    """``python -m tests.fakes.clickup`` driven through its ``/_fake`` control API and its API v2."""

    def __init__(self, log_dir: Path) -> None:
        from tests.fakes.clickup import DEFAULT_TEAM_ID, DEFAULT_TOKEN

        self.port = free_port()
        self.token, self.team_id = DEFAULT_TOKEN, DEFAULT_TEAM_ID
        argv = [sys.executable, "-m", "tests.fakes.clickup", "--port", str(self.port)]
        self.proc = Proc("fake-clickup", argv, {}, log_dir)
        self._http = httpx.Client(
            base_url=f"http://127.0.0.1:{self.port}", timeout=30, headers={"Authorization": self.token}
        )

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v2/"

    def start(self) -> ClickUpProcess:
        self.proc.start()
        wait_for(
            lambda: _answers(self._http, "/api/v2/user"),
            timeout=STARTUP_SECONDS,
            what="fake ClickUp up",
            watch=[self.proc],
        )
        return self

    def stop(self) -> None:
        self._http.close()
        self.proc.stop()

    def create_task(self, list_id: str, name: str, description: str = "") -> dict[str, Any]:
        """A person creates a task; ClickUp sends taskCreated + taskStatusUpdated to its webhooks."""
        response = self._http.post(
            "/_fake/tasks", json={"list_id": list_id, "name": name, "description": description}
        )
        response.raise_for_status()
        return dict(response.json()["task"])

    def comment(
        self, task_id: str, text: str, *, username: str = "Jane", user_id: int = 321
    ) -> dict[str, Any]:
        response = self._http.post(
            f"/_fake/tasks/{task_id}/comments", json={"text": text, "username": username, "user_id": user_id}
        )
        response.raise_for_status()
        return dict(response.json()["comment"])

    def comments(self, task_id: str) -> list[dict[str, Any]]:
        """Comments of a task, newest first."""
        response = self._http.get(f"/_fake/tasks/{task_id}/comments")
        response.raise_for_status()
        return list(response.json()["comments"])

    def task(self, task_id: str) -> dict[str, Any]:
        response = self._http.get(f"/api/v2/task/{task_id}")
        response.raise_for_status()
        return dict(response.json())

    def webhooks(self) -> list[dict[str, Any]]:
        response = self._http.get(f"/api/v2/team/{self.team_id}/webhook")
        response.raise_for_status()
        return list(response.json()["webhooks"])


def _answers(http: httpx.Client, path: str) -> bool:
    try:
        return http.get(path).status_code < 500
    except httpx.TransportError:
        return False


# ---- the stack -------------------------------------------------------------------------------------


@dataclass
class Team:
    """What ``register_team`` put in Nexus: one project on a list and channel, one agent."""

    workgroup: str
    project: str
    agent: str
    alias: str
    display_name: str
    list_id: str
    channel_id: str
    client_id: str
    client_secret: str = field(repr=False)


@dataclass
class Stack:
    """Nexus (API replicas and worker), fakes and agents as processes, sharing one environment."""

    database_url: str
    redis_url: str
    log_dir: Path
    manage_clickup_webhooks: bool = True
    redis_prefix: str = field(default_factory=lambda: f"oblivion-e2e-{uuid.uuid4().hex[:10]}")
    secrets: dict[str, str] = field(default_factory=dict, repr=False)
    slack: SlackProcess | None = None
    clickup: ClickUpProcess | None = None
    apis: list[Proc] = field(default_factory=list)
    api_urls: list[str] = field(default_factory=list)
    workers: list[Proc] = field(default_factory=list)
    agents: list[Proc] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.secrets.update(
            admin_token="adm-" + secrets.token_urlsafe(24),
            jwt_signing_key=secrets.token_urlsafe(48),
            master_key="k1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
            slack_signing_secret=secrets.token_hex(16),
            clickup_webhook_secret=secrets.token_hex(16),
        )
        self._public_port = free_port()

    @property
    def public_url(self) -> str:
        """The first API replica: where ClickUp webhooks Nexus creates point at."""
        return f"http://127.0.0.1:{self._public_port}"

    @property
    def processes(self) -> list[Proc]:
        fakes = [p.proc for p in (self.slack, self.clickup) if p is not None]
        return [*fakes, *self.apis, *self.workers, *self.agents]

    def secret_values(self) -> list[str]:
        return [v.removeprefix("k1:") for v in self.secrets.values()]

    def nexus_env(self, **overrides: str) -> dict[str, str]:
        if self.slack is None or self.clickup is None:
            raise HarnessError("start the fakes first")
        env = {
            "OBLIVION_DATABASE_URL": self.database_url,
            "OBLIVION_REDIS_URL": self.redis_url,
            "OBLIVION_REDIS_PREFIX": self.redis_prefix,
            **{f"OBLIVION_{k.upper()}": v for k, v in self.secrets.items()},
            "OBLIVION_PUBLIC_URL": self.public_url,
            "OBLIVION_HOST": "127.0.0.1",
            "OBLIVION_SLACK_API_URL": self.slack.api_url,
            "OBLIVION_SLACK_BOT_TOKEN": self.slack.bot_token,
            "OBLIVION_CLICKUP_API_URL": self.clickup.api_url,
            "OBLIVION_CLICKUP_TOKEN": self.clickup.token,
            # Quick enough that a project registered during a test gets its webhook within seconds.
            "OBLIVION_CLICKUP_WEBHOOK_CHECK_SECONDS": "5",
        }
        if self.manage_clickup_webhooks:
            env["OBLIVION_CLICKUP_TEAM_ID"] = self.clickup.team_id
        env.update(overrides)
        return env

    def start_fakes(self) -> None:
        self.slack = SlackProcess(self.log_dir).start()
        self.clickup = ClickUpProcess(self.log_dir).start()

    def migrate(self) -> None:
        proc = Proc("migrate", [oblivion_executable(), "nexus", "migrate"], self.nexus_env(), self.log_dir)
        proc.start()
        assert proc.popen is not None
        if proc.popen.wait(60) != 0:
            raise HarnessError(f"oblivion nexus migrate failed:\n{proc.output()}")

    def start_api(self, **overrides: str) -> str:
        """One more ``oblivion nexus serve`` replica (the first on the public URL's port)."""
        port = self._public_port if not self.apis else free_port()
        env = self.nexus_env(OBLIVION_PORT=str(port), **overrides)
        proc = Proc(f"api{len(self.apis) + 1}", [oblivion_executable(), "nexus", "serve"], env, self.log_dir)
        self.apis.append(proc.start())
        url = f"http://127.0.0.1:{port}"
        with httpx.Client(timeout=2) as http:
            wait_for(
                lambda: _ready(http, url), timeout=STARTUP_SECONDS, what=f"{proc.name} ready", watch=[proc]
            )
        self.api_urls.append(url)
        return url

    def start_worker(self, **overrides: str) -> Proc:
        env = self.nexus_env(**overrides)
        proc = Proc(
            f"worker{len(self.workers) + 1}", [oblivion_executable(), "nexus", "worker"], env, self.log_dir
        )
        self.workers.append(proc.start())
        wait_for(
            lambda: "worker consuming" in proc.output(),
            timeout=STARTUP_SECONDS,
            what=f"{proc.name} consuming",
            watch=[proc],
        )
        return proc

    def start_agent(self, team: Team, target: str = "examples.agents.triage:agent", *, api: int = 1) -> Proc:
        """``oblivion agent run target`` connected to API replica number ``api`` (0-based)."""
        env = {
            "OBLIVION_NEXUS_URL": self.api_urls[api],
            "OBLIVION_CLIENT_ID": team.client_id,
            "OBLIVION_CLIENT_SECRET": team.client_secret,
            "OBLIVION_BACKOFF_BASE_SECONDS": "0.1",
            "OBLIVION_BACKOFF_CAP_SECONDS": "1",
        }
        proc = Proc(f"agent-{team.agent}", [oblivion_executable(), "agent", "run", target], env, self.log_dir)
        self.agents.append(proc.start())
        wait_for(
            lambda: "connected to Nexus" in proc.output(),
            timeout=STARTUP_SECONDS,
            what=f"agent {team.agent} connected",
            watch=[proc],
        )
        return proc

    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secrets['admin_token']}"}

    def register_team(self, *, alias: str | None = None) -> Team:
        """A workgroup, a project (new list id, new channel) and an agent, through the registry API."""
        assert self.slack is not None
        suffix = uuid.uuid4().hex[:6]
        team = Team(
            workgroup=f"wg-{suffix}",
            project="auth",
            agent="triage",
            alias=alias or f"ai-{suffix}",
            display_name="Triage Bot",
            list_id=str(900_000 + secrets.randbelow(99_999)),
            channel_id=self.slack.add_channel(f"proj-{suffix}"),
            client_id=f"wg-{suffix}-triage",
            client_secret=secrets.token_urlsafe(24),
        )
        base = f"/internal/v1/workgroups/{team.workgroup}"
        bodies: list[tuple[str, dict[str, Any]]] = [
            (base, {"displayName": "Backend"}),
            (
                f"{base}/projects/{team.project}",
                {
                    "clickupListId": team.list_id,
                    "slackChannelId": team.channel_id,
                    "statusMap": {"IN_PROGRESS": "in progress", "DONE": "complete"},
                },
            ),
            (
                f"{base}/agents/{team.agent}",
                {
                    "clientId": team.client_id,
                    "clientSecret": team.client_secret,
                    "displayName": team.display_name,
                    "aliases": [team.alias],
                    "iconEmoji": ":robot_face:",
                },
            ),
        ]
        with httpx.Client(base_url=self.api_urls[0], headers=self.admin_headers(), timeout=10) as http:
            for path, body in bodies:
                response = http.put(path, json=body)
                if response.status_code not in (200, 201):
                    raise HarnessError(f"PUT {path} answered {response.status_code}: {response.text}")
        return team

    def inbox_frames(self, team: Team) -> list[dict[str, Any]]:
        """Events waiting in an agent's inbox (acked ones are gone), oldest first."""
        client = redis.Redis.from_url(self.redis_url, decode_responses=True)
        try:
            base = f"{self.redis_prefix}:inbox:{team.workgroup}:{team.agent}"
            order = client.zrange(f"{base}:q", 0, -1)
            frames = client.hgetall(f"{base}:ev")
            return [json.loads(frames[i]) for i in order if i in frames]
        finally:
            client.close()

    async def queue_counts(self) -> dict[str, int]:
        """Jobs of the webhook queue per state (waiting, active, delayed, completed, failed)."""
        from oblivion_nexus.stores.queue import QueueSettings, WebhookQueue

        queue = WebhookQueue(
            QueueSettings(
                redis_url=self.redis_url,
                prefix=self.redis_prefix,
                dedupe_seconds=86_400,
                attempts=8,
                enqueue_timeout=3.0,
            )
        )
        try:
            return await queue.counts()
        finally:
            await queue.close()

    async def queue_drained(self) -> bool:
        counts = await self.queue_counts()
        return all(counts.get(state, 0) == 0 for state in ("waiting", "active", "delayed"))

    def close(self) -> None:
        for proc in reversed([*self.agents, *self.workers, *self.apis]):
            proc.stop()
        for fake in (self.slack, self.clickup):
            if fake is not None:
                fake.stop()
        with contextlib.suppress(redis.RedisError):
            drop_redis_prefix(self.redis_url, self.redis_prefix)


def _ready(http: httpx.Client, url: str) -> bool:
    try:
        return http.get(url + "/readyz").status_code == 200
    except httpx.TransportError:
        return False


# ---- ``python -m tests.e2e.harness fake-slack``: the fake Slack with a control API -------------------


def _slack_control_app(fake: Any) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def channels(_: Request) -> JSONResponse:
        return JSONResponse(fake.channels)

    async def add_channel(request: Request) -> JSONResponse:
        body = await request.json()
        return JSONResponse(fake.add_channel(str(body["name"]), bot_is_member=True))

    async def messages(request: Request) -> JSONResponse:
        return JSONResponse(fake.messages(request.path_params["channel"]))

    async def post_message(request: Request) -> JSONResponse:
        body = await request.json()
        return JSONResponse(
            fake.post_as_user(
                request.path_params["channel"], str(body["text"]), thread_ts=body.get("thread_ts")
            )
        )

    async def calls(request: Request) -> JSONResponse:
        method = request.query_params.get("method")
        found = fake.calls_to(method) if method else fake.calls
        return JSONResponse([{"method": c.method, "args": c.args, "status": c.status} for c in found])

    async def rate_limit(request: Request) -> JSONResponse:
        body = await request.json()
        fake.rate_limit(str(body["method"]), times=int(body["times"]), retry_after=float(body["retry_after"]))
        return JSONResponse({})

    return Starlette(
        routes=[
            Route("/_fake/channels", channels, methods=["GET"]),
            Route("/_fake/channels", add_channel, methods=["POST"]),
            Route("/_fake/channels/{channel}/messages", messages, methods=["GET"]),
            Route("/_fake/channels/{channel}/messages", post_message, methods=["POST"]),
            Route("/_fake/calls", calls, methods=["GET"]),
            Route("/_fake/rate_limit", rate_limit, methods=["POST"]),
        ]
    )


def main(argv: list[str] | None = None) -> None:
    from tests.fakes.loopback import LoopbackServer
    from tests.fakes.slack import FakeSlack

    parser = argparse.ArgumentParser(description="Processes of the end-to-end tests.")
    commands = parser.add_subparsers(dest="command", required=True)
    slack = commands.add_parser("fake-slack", help="the fake Slack Web API plus a control API")
    slack.add_argument("--port", type=int, required=True)
    slack.add_argument("--control-port", type=int, required=True)
    slack.add_argument("--token", default="xoxb-test-token")
    options = parser.parse_args(argv)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    fake = FakeSlack(port=options.port, bot_token=options.token).start()
    control = LoopbackServer(_slack_control_app(fake), port=options.control_port)
    control.start()
    print(f"fake Slack on {fake.url}/api/, control on {control.base_url}/_fake/", flush=True)
    try:
        stopping.wait()
    finally:
        control.stop()
        fake.stop()


if __name__ == "__main__":
    main()
