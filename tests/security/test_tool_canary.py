"""A credential's value never leaves Nexus except to its own upstream: a canary grep across every
output of every process while upstreams try hard to give the value back.

``oblivion nexus serve`` and ``oblivion nexus worker`` run as processes at ``OBLIVION_LOG_LEVEL=DEBUG``.
Two canaries are planted as workgroup credentials: a key (of an ``http`` tool, and the same value as
a GitHub Enterprise token) and a model key. Then an agent makes a successful call whose upstream
echoes the key (raw, base64, URL-encoded, in the body and in headers), a call the upstream fails
with a 500 echoing it, two GitHub calls failing (500, and a 422 whose message quotes the token: the
gateway's 502 relays it), a call that waits for a person's Approve in Slack, the same calls over MCP,
a model call and two model calls the provider refuses with the key in its error, and an admin reads
the audit page. Searched afterwards for every form of each
canary: both processes' output, every HTTP answer (bodies and headers), the MCP results, every
request Nexus made to Slack, the audit records and every frame the agent received on its socket.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from websockets.asyncio.client import connect

from oblivion_agent.protocol import SUBPROTOCOL, Ack, AckFrame, HeartbeatFrame, RegisterFrame
from oblivion_nexus.services.tools.scrub import secret_forms
from tests.fakes import slack_events
from tests.fakes.models import FakeModels
from tests.fakes.slack import FakeSlack
from tests.secret_logs import SecretRegistry
from tests.security.shared_nexus import security_env, security_nexus
from tests.support.model_gateway import PRICES
from tests.support.nexus import NexusProcess
from tests.support.processes import STARTUP_SECONDS, Proc, oblivion_executable
from tests.support.servers import LoopbackServer
from tests.support.waiting import eventually, eventually_sync

APPROVER = "UAPPROVER1"


def canary_forms(value: str) -> dict[str, str]:
    """Every text a value can take on the wire, by name: raw, URL-encoded, base64 (also inside
    ``user:value``, as Basic auth sends it, where only the middle of its encoding is stable)."""
    encoded = value.encode()
    forms = {
        "raw": value,
        "URL-encoded": quote(value, safe=""),
        "URL-encoded with +": quote_plus(value),
        "base64": base64.b64encode(encoded).decode(),
        "URL-safe base64": base64.urlsafe_b64encode(encoded).decode(),
    }
    for n, form in enumerate(sorted(secret_forms(value) - set(forms.values()))):
        forms[f"base64 inside a longer text ({n})"] = form
    return forms


def leaks_of(what: str, value: str, outputs: dict[str, str]) -> list[str]:
    """Where any form of ``value`` appears, with a little context and the form itself masked."""
    found = []
    for form_name, form in canary_forms(value).items():
        for where, text in outputs.items():
            at = text.find(form)
            if at >= 0:
                context = text[max(0, at - 60) : at + len(form) + 60].replace(form, "[CANARY]")
                found.append(f"{what} ({form_name}) in {where}: …{context!r}…")
    return found


def echoing_upstream(seen: list[str]) -> Starlette:
    """An API that returns whatever key it was sent, in every form, in its body and headers; ``/broken``
    fails with it in the error."""

    def reflected(request: Request) -> tuple[dict[str, str], dict[str, str]]:
        key = request.headers.get("x-api-key", "")
        seen.append(key)
        forms = {
            "raw": key,
            "base64": base64.b64encode(key.encode()).decode(),
            "basic": base64.b64encode(f"user:{key}".encode()).decode(),
            "url": quote(key, safe=""),
        }
        headers = {
            "X-Echo-Key": key,
            "X-Echo-Base64": forms["base64"],
            "Set-Cookie": f"session=of-{forms['url']}",
            "Link": f"<https://api.example.com/next?key={forms['url']}>; rel=next",
        }
        return forms, headers

    async def echo(request: Request) -> Response:
        forms, headers = reflected(request)
        body = await request.body()
        return JSONResponse({"you_sent": forms, "body": body.decode()}, headers=headers)

    async def broken(request: Request) -> Response:
        forms, headers = reflected(request)
        text = f"internal error: key {forms['raw']} rejected (basic {forms['basic']}, {forms['url']})"
        return JSONResponse({"message": text}, status_code=500, headers=headers)

    async def github_down(request: Request) -> Response:
        """A GitHub Enterprise server failing, its error quoting the token it was sent."""
        token = request.headers.get("authorization", "").removeprefix("Bearer ").removeprefix("token ")
        seen.append(token)
        message = f"token {token} ({quote(token, safe='')}) could not be checked"
        # A read fails on the server's side, a write is refused with GitHub's validation error.
        status = 500 if request.method == "GET" else 422
        return JSONResponse({"message": message}, status_code=status, headers={"X-Echo-Key": token})

    return Starlette(
        routes=[
            Route("/api/echo", echo, methods=["GET", "POST"]),
            Route("/api/broken", broken),
            Route("/ghe/{rest:path}", github_down, methods=["GET", "POST", "PATCH", "PUT"]),
        ]
    )


class Recorder:
    """Everything Nexus answered this test: every HTTP response (status line, headers, body)."""

    def __init__(self) -> None:
        self.answers: list[str] = []

    async def __call__(self, response: httpx.Response) -> None:
        await response.aread()
        head = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
        self.answers.append(f"{response.request.method} {response.request.url}\n{head}\n{response.text}")


@pytest.fixture
def upstream_keys() -> list[str]:
    return []


@pytest.fixture
def upstream(upstream_keys: list[str]) -> Iterator[LoopbackServer]:
    with LoopbackServer(echoing_upstream(upstream_keys)) as server:
        yield server


@pytest.fixture
def models(secret_registry: SecretRegistry) -> Iterator[FakeModels]:
    with FakeModels(api_key="sk-canary-model-" + secrets.token_urlsafe(24)) as fake:
        secret_registry.add(*canary_forms(fake.api_key).values())
        yield fake


@pytest.fixture
def tool_canary(secret_registry: SecretRegistry) -> str:
    # '+', '/' and '=' make the URL-encoded forms differ from the raw value.
    value = f"sk_canary+{secrets.token_hex(12)}/key="
    secret_registry.add(*canary_forms(value).values())
    return value


@pytest.fixture
def debug_env(
    postgres_url: str, redis_url: str, secret_registry: SecretRegistry, fake_slack: FakeSlack, tmp_path: Path
) -> dict[str, str]:
    return {
        **security_env(postgres_url, redis_url, secret_registry),
        "OBLIVION_LOG_LEVEL": "DEBUG",
        "OBLIVION_SLACK_BOT_TOKEN": fake_slack.bot_token,
        "OBLIVION_SLACK_API_URL": fake_slack.url + "/api/",
        "OBLIVION_MODEL_PRICES": PRICES,
        "OBLIVION_MEMORY_DATA_DIR": str(tmp_path / "memory"),
    }


@pytest.fixture
def processes(
    debug_env: dict[str, str], tmp_path: Path, secret_registry: SecretRegistry
) -> Iterator[tuple[NexusProcess, Proc]]:
    with security_nexus(debug_env, secret_registry) as api:
        worker = Proc("nexus-worker", [oblivion_executable(), "nexus", "worker"], api.env, tmp_path).start()
        secret_registry.add_log_file(worker.log_path)
        try:
            eventually_sync(
                lambda: "worker consuming" in worker.output(),
                timeout=STARTUP_SECONDS,
                what="the worker to start consuming",
                watch=[worker],
            )
            yield api, worker
        finally:
            worker.stop()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


async def test_no_form_of_a_credential_reaches_any_output_of_any_process(
    processes: tuple[NexusProcess, Proc],
    debug_env: dict[str, str],
    fake_slack: FakeSlack,
    upstream: LoopbackServer,
    upstream_keys: list[str],
    models: FakeModels,
    tool_canary: str,
    recorder: Recorder,
    secret_registry: SecretRegistry,
) -> None:
    api, worker = processes
    workgroup = f"wg-{uuid.uuid4().hex[:8]}"
    channel = fake_slack.add_channel(f"squad-{uuid.uuid4().hex[:8]}", bot_is_member=True)["id"]
    hooks = {"response": [recorder]}
    admin = httpx.AsyncClient(
        base_url=api.url + "/internal/v1", headers=api.admin_headers(), event_hooks=hooks, timeout=30
    )
    async with admin:
        assert (await admin.put(f"/workgroups/{workgroup}", json={"slackChannelId": channel})).is_success
        canary_api = {
            "type": "http",
            "value": tool_canary,
            "allowedActions": ["GET /*", "POST /*"],
            "config": {"baseUrl": f"{upstream.base_url}/api", "headerName": "X-Api-Key", "scheme": ""},
            "approval": {"actions": ["POST /*"], "approvers": [APPROVER]},
        }
        openai = {
            "type": "openai",
            "value": models.api_key,
            "allowedActions": ["*"],
            "config": {"baseUrl": f"{models.url}/v1"},
        }
        canary_github = {  # the same value, as a GitHub Enterprise token
            "type": "github",
            "value": tool_canary,
            "allowedActions": ["issues.*"],
            "config": {"baseUrl": f"{upstream.base_url}/ghe"},
        }
        credentials = {"canary-api": canary_api, "canary-gh": canary_github, "openai": openai}
        for name, spec in credentials.items():
            assert (await admin.put(f"/workgroups/{workgroup}/credentials/{name}", json=spec)).is_success
        client_id, client_secret = f"cid-{uuid.uuid4().hex}", "canary-secret-" + secrets.token_hex(16)
        secret_registry.add(client_secret)
        agent = {
            "clientId": client_id,
            "clientSecret": client_secret,
            "tools": [{"credential": "canary-api"}, {"credential": "canary-gh"}],
            "model": {"provider": "openai", "name": "gpt-4o-mini"},
        }
        assert (await admin.put(f"/workgroups/{workgroup}/agents/ops-bot", json=agent)).status_code == 201
        async with httpx.AsyncClient(base_url=api.url, event_hooks=hooks, timeout=30) as anyone:
            issued = await anyone.post(
                "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, client_secret)
            )
        token = issued.json()["access_token"]
        secret_registry.add(token)
        bearer = {"Authorization": f"Bearer {token}"}

        frames: list[str] = []
        ws_url = api.url.replace("http", "ws", 1) + "/v1/agents/connect"
        async with (
            httpx.AsyncClient(base_url=api.url, headers=bearer, event_hooks=hooks, timeout=30) as bot,
            connect(ws_url, additional_headers=bearer, subprotocols=[SUBPROTOCOL]) as ws,
        ):
            await ws.send(RegisterFrame().model_dump_json())

            async def read_frames() -> None:
                async for raw in ws:
                    frames.append(str(raw))
                    frame = json.loads(raw)
                    if frame["type"] == "HEARTBEAT":
                        await ws.send(HeartbeatFrame().model_dump_json())
                    elif frame["type"] != "ERROR":
                        await ws.send(AckFrame(data=Ack(ids=[frame["id"]])).model_dump_json())

            reader = asyncio.create_task(read_frames())
            try:
                assert (await bot.get("/v1/tools")).status_code == 200
                echoed = await bot.post(
                    "/v1/tools/invoke", json={"tool": "http", "action": "GET /echo", "args": {}}
                )
                assert echoed.status_code == 200, echoed.text
                assert echoed.json()["result"]["body"]["you_sent"]["raw"] == "[REDACTED]"
                failed = await bot.post(
                    "/v1/tools/invoke", json={"tool": "http", "action": "GET /broken", "args": {}}
                )
                # The API failed (5xx): 502 with its status and the start of its body, scrubbed.
                assert failed.status_code == 502, failed.text
                assert failed.json()["detail"]["upstream"]["status"] == 500, failed.text

                github_down = await bot.post(
                    "/v1/tools/invoke",
                    json={
                        "tool": "github",
                        "credential": "canary-gh",
                        "action": "issues.get",
                        "args": {"owner": "acme", "repo": "api", "number": 1},
                    },
                )
                assert github_down.status_code == 502, github_down.text
                assert github_down.json()["detail"]["upstream"]["status"] == 500, github_down.text
                github_refused = await bot.post(
                    "/v1/tools/invoke",
                    json={
                        "tool": "github",
                        "credential": "canary-gh",
                        "action": "issues.create",
                        "args": {"owner": "acme", "repo": "api", "title": "t"},
                    },
                )
                assert github_refused.status_code == 502, github_refused.text
                relayed = github_refused.json()["detail"]["upstream"]
                assert relayed["status"] == 422
                assert "token [REDACTED] ([REDACTED])" in relayed["message"]

                pending = await bot.post(
                    "/v1/tools/invoke",
                    json={"tool": "http", "action": "POST /echo", "args": {"body": {"deploy": "v2"}}},
                )
                assert pending.status_code == 202, pending.text
                approval_id = pending.json()["approvalId"]
                await eventually(
                    lambda: [m for m in fake_slack.messages(channel) if approval_id in json.dumps(m)],
                    what="the approval announced in Slack",
                )
                clicked = await click(api.url, debug_env, channel, approval_id, hooks)
                assert clicked.status_code == 200
                await eventually(
                    lambda: any(approval_id in f and "TOOL_RESULT" in f for f in frames),
                    what="the approved call's TOOL_RESULT at the agent",
                )

                mcp_results = await mcp_calls(api.url, token)

                answered = await bot.post(
                    "/v1/llm/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]}
                )
                assert answered.status_code == 200, answered.text
                for status, kind in ((401, "invalid_api_key"), (500, "server_error")):
                    models.fail(status, kind, f"Incorrect API key provided: {models.api_key}.")
                    refused = await bot.post(
                        "/v1/llm/chat/completions",
                        json={"messages": [{"role": "user", "content": "hi"}]},
                    )
                    assert refused.status_code >= 400, refused.text
            finally:
                reader.cancel()

        audit = await admin.get(f"/workgroups/{workgroup}/audit")
        assert audit.status_code == 200
        records = audit.json()["records"]

    assert worker.alive, worker.exit_report()
    outputs: dict[str, str] = {
        "the nexus serve output": api.output(),
        "the nexus worker output": worker.output(),
        "Nexus's HTTP answers": "\n\n".join(recorder.answers),
        "the MCP results": "\n".join(mcp_results),
        "Nexus's requests to Slack": json.dumps([c.__dict__ for c in fake_slack.calls], default=str),
        "the Slack ephemerals": json.dumps(fake_slack.workspace.ephemerals),
        "the audit records": json.dumps(records),
        "the agent's frames": "\n".join(frames),
    }
    # The search is not vacuous: each canary went out to its upstream, every kind of output exists,
    # and the processes logged at DEBUG.
    assert tool_canary in upstream_keys
    assert all(r.headers.get("authorization") == f"Bearer {models.api_key}" for r in models.requests)
    assert len(models.requests) == 3
    assert "DEBUG" in outputs["the nexus serve output"]
    assert "DEBUG" in outputs["the nexus worker output"]
    assert {r["outcome"] for r in records} >= {"ok", "failed", "pending", "approved"}
    assert all(outputs.values()), [what for what, text in outputs.items() if not text]
    leaks = [
        *leaks_of("the http tool's key", tool_canary, outputs),
        *leaks_of("the model key", models.api_key, outputs),
    ]
    assert not leaks, leaks


async def click(
    url: str, env: dict[str, str], channel: str, approval_id: str, hooks: dict[str, Any]
) -> httpx.Response:
    """APPROVER clicks Approve, signed as Slack signs it."""
    body, headers = slack_events.button_click(
        env["OBLIVION_SLACK_SIGNING_SECRET"],
        user=APPROVER,
        channel=channel,
        action_id="approve",
        value=approval_id,
    )
    async with httpx.AsyncClient(base_url=url, event_hooks=hooks, timeout=30) as slack:
        return await slack.post("/webhooks/slack/interactivity", content=body, headers=headers)


async def mcp_calls(url: str, token: str) -> list[str]:
    """The tool listing and the echoing call over MCP, as an MCP client sees them."""
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        transport = streamable_http_client(url + "/mcp", http_client=http)
        async with Client(transport) as client:  # type: ignore[arg-type]
            listed = await client.list_tools()
            echoed = await client.call_tool("canary-api.request", {"method": "GET", "path": "/echo"})
            broken = await client.call_tool("canary-api.request", {"method": "GET", "path": "/broken"})
    assert echoed.is_error is False, echoed
    assert broken.is_error, broken
    assert broken.structured_content is not None
    assert broken.structured_content["detail"]["upstream"]["status"] == 500, broken
    return [listed.model_dump_json(), echoed.model_dump_json(), broken.model_dump_json()]
