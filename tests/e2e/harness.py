"""Oblivion's primary flow as real processes, for the end-to-end tests and ``bench/magic_moment.py``.

Every component runs as it is deployed: two ``oblivion nexus serve`` replicas, one ``oblivion nexus
worker``, agents through ``oblivion agent run``, and the fake Slack and ClickUp as their own processes
(``tests/e2e/vendors.py``). :class:`Stack` holds them and the environment they share; the process
control lives in ``tests/support/processes.py``, the waits with deadlines in ``tests/support/waiting.py``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis

from tests.e2e.vendors import ClickUpProcess, SlackProcess
from tests.support.processes import STARTUP_SECONDS, Proc, oblivion_executable
from tests.support.servers import free_port
from tests.support.stores import drop_redis_prefix
from tests.support.waiting import eventually_sync

__all__ = ["HarnessError", "Stack", "Team"]


class HarnessError(Exception):
    """The end-to-end stack was used wrongly, or one of its processes refused a step."""


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
            eventually_sync(
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
        eventually_sync(
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
        eventually_sync(
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
