"""Agents call tools through Nexus: deny by default, the credential never leaves, every outcome audited."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from oblivion_nexus.services.tools.audit_log import ToolAuditLog
from tests.support.servers import LoopbackServer
from tests.support.tool_gateway import REPO, ToolWorld


async def invoke(agent: httpx.AsyncClient, action: str, tool: str = "github", **body: Any) -> httpx.Response:
    return await agent.post("/v1/tools/invoke", json={"tool": tool, "action": action, **body})


async def audit(world: ToolWorld, **query: Any) -> list[dict[str, Any]]:
    async with world.admin() as admin:
        r = await admin.get(f"/workgroups/{world.workgroup}/audit", params=query)
    assert r.status_code == 200, r.text
    return list(r.json()["records"])


async def test_an_allowed_action_runs_with_the_stored_credential_and_is_audited(world: ToolWorld) -> None:
    bot = await world.agent("backend-bot", [{"credential": "github"}])
    r = await invoke(
        bot, "issues.create", args={"owner": "acme", "repo": "api", "title": "Flaky deploy"}, taskId="86b1"
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ok"
    assert body["result"]["title"] == "Flaky deploy"
    assert world.github.issue(REPO, body["result"]["number"])["title"] == "Flaky deploy"
    assert world.github.token not in r.text
    [record] = await audit(world)
    assert record["outcome"] == "ok"
    assert (record["agent"], record["tool"], record["action"]) == ("backend-bot", "github", "issues.create")
    assert record["task_id"] == "86b1"
    assert record["invocation_id"] == body["auditId"]
    assert record["upstream_status"] == 200
    assert record["arguments"]["title"] == "Flaky deploy"
    assert len(record["hash"]) == 64


async def test_what_the_agent_may_call_is_listed_with_schemas(world: ToolWorld) -> None:
    bot = await world.agent(
        "reader", [{"credential": "github", "actions": ["issues.get", "issues.list", "pulls.*"]}]
    )
    r = await bot.get("/v1/tools")
    assert r.status_code == 200
    listed = {(tool["credential"], tool["action"]) for tool in r.json()["tools"]}
    assert listed == {("github", "issues.get"), ("github", "issues.list"), ("github", "pulls.get")}
    schema = next(tool["argsSchema"] for tool in r.json()["tools"] if tool["action"] == "issues.get")
    assert set(schema["required"]) == {"owner", "repo", "number"}


@pytest.mark.parametrize(
    ("tools", "action", "rule"),
    [
        ([{"credential": "github"}], "pulls.merge", "does not allow 'pulls.merge'"),
        (
            [{"credential": "github", "actions": ["issues.get"]}],
            "issues.create",
            "is not granted 'issues.create'",
        ),
        ([], "issues.create", "no credential of type 'github'"),
    ],
)
async def test_a_call_outside_any_grant_is_refused_with_the_rule_and_audited(
    world: ToolWorld, tools: list[dict[str, Any]], action: str, rule: str
) -> None:
    bot = await world.agent("narrow-bot", tools)
    r = await invoke(bot, action, args={"owner": "acme", "repo": "api", "title": "x", "number": 1})
    assert r.status_code in (403, 422), r.text
    assert rule in r.text
    if r.status_code == 403:
        [record] = await audit(world, outcome="denied")
        assert rule in record["detail"]
    assert world.github.calls == []


async def test_a_credential_limited_to_other_agents_refuses_this_one(world: ToolWorld) -> None:
    config = {"baseUrl": world.github.url}
    await world.credential(
        "ops",
        type="github",
        value=world.github.token,
        allowedActions=["*"],
        agents=["ops-bot"],
        config=config,
    )
    bot = await world.agent("backend-bot", [{"credential": "ops"}])
    r = await invoke(bot, "issues.list", credential="ops", args={"owner": "acme", "repo": "api"})
    assert r.status_code == 403
    assert "does not list agent 'backend-bot'" in r.json()["detail"]["rule"]


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"tool": "github", "action": "issues.launch", "args": {}}, 404, "unknown github action"),
        ({"tool": "jira", "action": "issues.create", "args": {}}, 404, "unknown tool"),
        (
            {"tool": "github", "action": "issues.get", "credential": "nope", "args": {}},
            404,
            "no credential 'nope'",
        ),
        (
            {
                "tool": "github",
                "action": "issues.get",
                "args": {"owner": "a/../b", "repo": "api", "number": 1},
            },
            422,
            "owner",
        ),
        (
            {"tool": "github", "action": "issues.get", "args": {"owner": "a", "repo": "b", "number": "x"}},
            422,
            "number",
        ),
        ({"tool": "github", "action": "issues.get"}, 422, "owner"),
        ({"tool": "github", "action": "issues.get", "args": [], "extra": 1}, 422, "extra"),
    ],
)
async def test_bad_calls_get_a_clear_4xx_and_never_reach_github(
    world: ToolWorld, body: dict[str, Any], status: int, says: str
) -> None:
    bot = await world.agent("backend-bot", [{"credential": "github"}])
    r = await bot.post("/v1/tools/invoke", json=body)
    assert r.status_code == status, r.text
    assert says in r.text
    assert world.github.calls == []


async def test_an_upstream_failure_is_502_with_its_status_and_rate_limits_are_429(world: ToolWorld) -> None:
    bot = await world.agent("backend-bot", [{"credential": "github"}])
    missing = await invoke(bot, "issues.get", args={"owner": "acme", "repo": "api", "number": 999})
    assert missing.status_code == 502
    assert missing.json()["detail"]["upstream"]["status"] == 404
    world.github.secondary_rate_limit(retry_after=42)
    limited = await invoke(bot, "issues.list", args={"owner": "acme", "repo": "api"})
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "42"
    outcomes = [record["outcome"] for record in await audit(world)]
    assert outcomes == ["failed", "upstream_rate_limited"]


@pytest.mark.parametrize("tool_settings", [{"tool_calls_per_minute": 4}])
async def test_an_agent_over_its_tool_rate_limit_gets_429_with_retry_after(world: ToolWorld) -> None:
    bot = await world.agent("busy-bot", [{"credential": "github"}])
    first = await invoke(bot, "issues.list", args={"owner": "acme", "repo": "api"})
    second = await invoke(bot, "issues.list", args={"owner": "acme", "repo": "api"})
    assert first.status_code == 200
    assert second.status_code == 429
    assert 1 <= int(second.headers["retry-after"]) <= 15
    assert len([c for c in world.github.calls if c.path.endswith("/issues")]) == 1


async def test_an_upstream_that_echoes_the_credential_has_it_scrubbed(world: ToolWorld) -> None:
    value = "sk_" + secrets.token_urlsafe(24)
    world.secrets.add(value)

    async def echo(request: Request) -> JSONResponse:
        return JSONResponse({"you_sent": request.headers.get("x-api-key"), "again": f"key={value}"})

    with LoopbackServer(Starlette(routes=[Route("/api/whoami", echo)])) as upstream:
        config = {"baseUrl": f"{upstream.base_url}/api", "headerName": "X-Api-Key", "scheme": ""}
        await world.credential(
            "status-api", type="http", value=value, allowedActions=["GET /*"], config=config
        )
        bot = await world.agent("backend-bot", [{"credential": "status-api"}])
        r = await invoke(bot, "GET /whoami", tool="http")
    assert r.status_code == 200, r.text
    assert value not in r.text
    assert r.json()["result"]["body"] == {"you_sent": "[REDACTED]", "again": "key=[REDACTED]"}


async def test_an_http_api_that_fails_is_502_with_its_status_and_one_that_answers_4xx_is_passed_on(
    world: ToolWorld,
) -> None:
    value = "sk_" + secrets.token_urlsafe(24)

    async def broken(request: Request) -> JSONResponse:
        return JSONResponse({"error": f"database down (key {request.headers.get('x-api-key')})"}, 503)

    async def missing(_: Request) -> JSONResponse:
        return JSONResponse({"error": "no such item"}, 404)

    routes = [Route("/api/broken", broken), Route("/api/items/42", missing)]
    with LoopbackServer(Starlette(routes=routes)) as upstream:
        config = {"baseUrl": f"{upstream.base_url}/api", "headerName": "X-Api-Key", "scheme": ""}
        await world.credential(
            "items-api", type="http", value=value, allowedActions=["GET /*"], config=config
        )
        bot = await world.agent("backend-bot", [{"credential": "items-api"}])
        failed = await invoke(bot, "GET /broken", tool="http")
        answered = await invoke(bot, "GET /items/42", tool="http")
    assert failed.status_code == 502, failed.text
    upstream_said = failed.json()["detail"]["upstream"]
    assert upstream_said["status"] == 503
    assert "database down (key [REDACTED])" in upstream_said["message"]
    assert value not in failed.text
    assert answered.status_code == 200, answered.text
    assert answered.json()["result"]["status"] == 404
    assert answered.json()["result"]["body"] == {"error": "no such item"}
    records = await audit(world)
    assert [(r["outcome"], r["upstream_status"]) for r in records] == [("failed", 503), ("ok", 404)]


def audit_verify(world: ToolWorld) -> subprocess.CompletedProcess[str]:
    """`oblivion audit verify` as an operator runs it."""
    env = {"PATH": os.environ["PATH"], "OBLIVION_DATABASE_URL": world.nexus.settings.database.url}
    command = [
        str(Path(sys.executable).parent / "oblivion"),
        "audit",
        "verify",
        "--workgroup",
        world.workgroup,
    ]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)


async def test_an_audit_query_with_a_time_but_no_time_zone_is_a_422_saying_so(world: ToolWorld) -> None:
    async with world.admin() as admin:
        for query in ({"since": "2026-12-07T10:00:00"}, {"until": "2026-12-07T10:00:00"}):
            r = await admin.get(f"/workgroups/{world.workgroup}/audit", params=query)
            assert r.status_code == 422
            assert r.json() == {"detail": "since and until need a time zone (e.g. 2026-12-07T10:00:00Z)"}


async def test_the_audit_chain_verifies_and_an_edited_or_removed_row_is_found(world: ToolWorld) -> None:
    bot = await world.agent("backend-bot", [{"credential": "github"}])
    for n in range(3):
        await invoke(bot, "issues.create", args={"owner": "acme", "repo": "api", "title": f"t{n}"})
    await invoke(bot, "pulls.merge", args={"owner": "acme", "repo": "api", "number": 1})
    intact = await asyncio.to_thread(audit_verify, world)
    assert intact.returncode == 0, intact.stderr
    assert "intact: 4 records" in intact.stdout
    engine = create_async_engine(world.nexus.settings.database.url)
    try:
        async with engine.begin() as conn:  # someone with database access turns a refusal into a success
            await conn.execute(
                text("UPDATE tool_audit SET outcome = 'ok' WHERE workgroup = :wg AND seq = 4"),
                {"wg": world.workgroup},
            )
        edited = await asyncio.to_thread(audit_verify, world)
        assert edited.returncode == 1
        assert "record 4: contents do not match the record's hash: edited" in edited.stdout
        async with engine.begin() as conn:  # ...then removes the evidence: the newest row
            await conn.execute(
                text("DELETE FROM tool_audit WHERE workgroup = :wg AND seq = 4"), {"wg": world.workgroup}
            )
        truncated = await asyncio.to_thread(audit_verify, world)
        assert truncated.returncode == 1
        assert "newest rows removed" in truncated.stdout
        log = ToolAuditLog(async_sessionmaker(engine))
        count, breaks = await log.verify(world.workgroup)
        assert count == 3
        assert len(breaks) == 1
    finally:
        await engine.dispose()
