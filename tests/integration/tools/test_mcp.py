"""Any MCP client reaches the Tool Gateway at /mcp with the agent's token: the same tools, the same
policy, approvals and audit as /v1/tools, and nothing without a valid token."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client

from tests.support.tool_gateway import REPO, ToolWorld

# The 2026-07-28 per-request era (what the SDK's client tries first) and the initialize handshake.
MODES = ["auto", "legacy"]
NEGOTIATED = {"auto": "2026-07-28", "legacy": "2025-11-25"}


def token_of(agent: httpx.AsyncClient) -> str:
    return agent.headers["authorization"].removeprefix("Bearer ")


@asynccontextmanager
async def mcp_client(world: ToolWorld, token: str, mode: str = "auto") -> AsyncIterator[Client]:
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        transport = streamable_http_client(world.nexus.url + "/mcp", http_client=http)
        async with Client(transport, mode=mode) as client:  # type: ignore[arg-type]
            yield client


async def audit(world: ToolWorld) -> list[dict[str, Any]]:
    async with world.admin() as admin:
        r = await admin.get(f"/workgroups/{world.workgroup}/audit")
    assert r.status_code == 200, r.text
    return list(r.json()["records"])


@pytest.mark.parametrize("mode", MODES)
async def test_mcp_lists_exactly_the_tools_get_v1_tools_lists_and_memory_search(
    world: ToolWorld, mode: str
) -> None:
    await world.credential(
        "status-api",
        type="http",
        value="sk-status-" + "x" * 16,
        allowedActions=["GET /status/*", "POST /deploys"],
        config={"baseUrl": "https://status.example.com/api"},
    )
    world.secrets.add("sk-status-" + "x" * 16)
    bot = await world.agent(
        "reader",
        [
            {"credential": "github", "actions": ["issues.get", "issues.list", "pulls.*"]},
            {"credential": "status-api", "actions": ["GET /status/*"]},
        ],
    )
    rest = (await bot.get("/v1/tools")).json()["tools"]
    async with mcp_client(world, token_of(bot), mode) as client:
        assert client.protocol_version == NEGOTIATED[mode]
        listed = {tool.name: tool for tool in (await client.list_tools()).tools}
    github = {f"github.{t['action']}": t for t in rest if t["tool"] == "github"}
    assert set(listed) == {*github, "status-api.request", "memory_search"}
    assert listed["memory_search"].input_schema["required"] == ["query"]
    assert set(github) == {"github.issues.get", "github.issues.list", "github.pulls.get"}
    for name, entry in github.items():
        assert listed[name].input_schema == entry["argsSchema"]
    http = listed["status-api.request"]
    assert "GET /status/*" in (http.description or "")
    assert "POST /deploys" not in (http.description or "")
    assert http.input_schema["properties"]["method"]["enum"] == ["GET"]
    assert set(http.input_schema["required"]) == {"method", "path"}


@pytest.mark.parametrize("mode", MODES)
async def test_a_call_over_mcp_runs_with_the_stored_credential_and_is_audited(
    world: ToolWorld, mode: str
) -> None:
    bot = await world.agent("backend-bot", [{"credential": "github"}])
    async with mcp_client(world, token_of(bot), mode) as client:
        result = await client.call_tool(
            "github.issues.create",
            {"owner": "acme", "repo": "api", "title": "Flaky deploy"},
            meta={"oblivion.dev/taskId": "86b1"},
        )
    assert result.is_error is False
    body = result.structured_content
    assert body["status"] == "ok"
    created = json.loads(result.content[0].text)  # type: ignore[union-attr]
    assert created["title"] == "Flaky deploy"
    assert world.github.issue(REPO, created["number"])["title"] == "Flaky deploy"
    assert world.github.token not in result.model_dump_json()
    [record] = await audit(world)
    assert (record["outcome"], record["agent"], record["action"]) == ("ok", "backend-bot", "issues.create")
    assert record["invocation_id"] == body["auditId"]
    assert record["task_id"] == "86b1"


async def test_a_refused_call_over_mcp_is_a_tool_error_naming_the_rule_and_is_audited(
    world: ToolWorld,
) -> None:
    bot = await world.agent("backend-bot", [{"credential": "github", "actions": ["issues.get"]}])
    async with mcp_client(world, token_of(bot)) as client:
        assert "github.issues.create" not in {t.name for t in (await client.list_tools()).tools}
        result = await client.call_tool(
            "github.issues.create", {"owner": "acme", "repo": "api", "title": "Not allowed"}
        )
        bad_args = await client.call_tool("github.issues.get", {"owner": "acme"})
    assert result.is_error is True
    assert result.structured_content["httpStatus"] == 403
    assert "is not granted 'issues.create'" in result.structured_content["detail"]["rule"]
    assert bad_args.is_error is True
    assert bad_args.structured_content["httpStatus"] == 422
    assert not [c for c in world.github.calls if c.method == "POST"]
    assert [r["outcome"] for r in await audit(world)] == ["denied"]


async def test_a_call_needing_approval_answers_pending_with_the_approval_id(world: ToolWorld) -> None:
    await world.credential(
        "github",
        type="github",
        value=world.github.token,
        allowedActions=["*"],
        config={"baseUrl": world.github.url},
        approval={"actions": ["pulls.merge"], "approvers": ["UAPPROVER1"], "timeoutSeconds": 600},
    )
    bot = await world.agent("backend-bot", [{"credential": "github"}])
    async with mcp_client(world, token_of(bot)) as client:
        merge = next(t for t in (await client.list_tools()).tools if t.name == "github.pulls.merge")
        result = await client.call_tool("github.pulls.merge", {"owner": "acme", "repo": "api", "number": 1})
    assert "approval" in (merge.description or "")
    assert result.is_error is False
    body = result.structured_content
    assert body["status"] == "pending_approval"
    assert body["approvalId"] in result.content[0].text  # type: ignore[union-attr]
    assert "TOOL_RESULT" in result.content[0].text  # type: ignore[union-attr]
    assert not [c for c in world.github.calls if c.path.endswith("/merge")]
    assert [r["outcome"] for r in await audit(world)] == ["pending"]


async def test_an_unknown_tool_name_is_an_mcp_error(world: ToolWorld) -> None:
    bot = await world.agent("backend-bot", [{"credential": "github"}])
    async with mcp_client(world, token_of(bot)) as client:
        with pytest.raises(MCPError, match=r"unknown tool 'github\.issues\.explode'"):
            await client.call_tool("github.issues.explode", {})


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        (None, "an agent access token is required"),
        ("Bearer not-a-jwt", "token is malformed"),
        ("Basic dXNlcjpwYXNz", "an agent access token is required"),
    ],
)
async def test_mcp_without_a_valid_agent_token_is_401_with_the_resource_metadata(
    world: ToolWorld, authorization: str | None, reason: str
) -> None:
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    if authorization:
        headers["Authorization"] = authorization
    request = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    async with httpx.AsyncClient(base_url=world.nexus.url) as anonymous:
        r = await anonymous.post("/mcp", json=request, headers=headers)
        assert r.status_code == 401
        assert reason in r.json()["detail"]
        challenge = r.headers["www-authenticate"]
        assert challenge.startswith("Bearer ")
        metadata_url = challenge.split('resource_metadata="')[1].rstrip('"')
        assert metadata_url.endswith("/.well-known/oauth-protected-resource/mcp")
        metadata = (await anonymous.get("/.well-known/oauth-protected-resource/mcp")).json()
        issuer = (await anonymous.get("/.well-known/oauth-authorization-server")).json()
    assert metadata["resource"].endswith("/mcp")
    assert issuer["issuer"] == metadata["authorization_servers"][0]
    assert issuer["token_endpoint"].endswith("/oauth/token")


async def test_the_mcp_client_cannot_connect_with_a_wrong_token(world: ToolWorld) -> None:
    statuses: list[int] = []

    async def seen(response: httpx2.Response) -> None:
        statuses.append(response.status_code)

    headers = {"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.e30.forged"}
    async with httpx2.AsyncClient(headers=headers, event_hooks={"response": [seen]}) as http:
        transport = streamable_http_client(world.nexus.url + "/mcp", http_client=http)
        with pytest.raises(BaseException) as raised:  # noqa: PT011 - the SDK wraps it in task groups
            async with Client(transport):  # type: ignore[arg-type]
                pass
    assert "MCPError" in repr(raised.value)
    assert statuses
    assert set(statuses) == {401}


async def test_a_deleted_agents_token_no_longer_reaches_its_tools_over_mcp(world: ToolWorld) -> None:
    bot = await world.agent("backend-bot", [{"credential": "github"}])
    token = token_of(bot)
    async with mcp_client(world, token) as client:
        assert (await client.list_tools()).tools
    async with world.admin() as admin:
        r = await admin.delete(f"/workgroups/{world.workgroup}/agents/backend-bot")
    assert r.status_code in (200, 204), r.text
    async with httpx.AsyncClient(base_url=world.nexus.url) as raw:
        r = await raw.post(
            "/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}},
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"},
        )
    assert r.status_code == 403, r.text  # the agent is gone, not merely its token
    assert not world.github.calls


async def test_a_call_repeated_with_its_idempotency_key_in_meta_runs_once(world: ToolWorld) -> None:
    bot = await world.agent("backend-bot", [{"credential": "github"}])
    meta = {"oblivion.dev/idempotencyKey": "mcp-once-1"}
    args = {"owner": "acme", "repo": "api", "title": "Once"}
    async with mcp_client(world, token_of(bot)) as client:
        first = await client.call_tool("github.issues.create", args, meta=meta)
        again = await client.call_tool("github.issues.create", args, meta=meta)
        other = await client.call_tool("github.issues.create", {**args, "title": "Other"}, meta=meta)
    assert again.structured_content == first.structured_content
    assert other.is_error is True
    assert other.structured_content["httpStatus"] == 422
    assert len([c for c in world.github.calls if c.method == "POST"]) == 1
