"""A risky call waits for a person: announced in Slack, decided by an allowed click exactly once, the
result delivered to the agent as TOOL_RESULT, and every step in the audit chain."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from websockets.asyncio.client import connect

from oblivion_agent.protocol import SUBPROTOCOL, HeartbeatFrame, RegisterFrame, parse_server_frame
from oblivion_nexus.services.taskflow.signatures import sign_slack_body
from tests.fakes.slack_state import BOT_USER_ID
from tests.support.tool_gateway import (
    APPROVER,
    REPO,
    STRANGER,
    ToolWorld,
    click,
    merge_needs_approval,
    open_pull,
)
from tests.support.waiting import eventually


async def outcomes(world: ToolWorld) -> list[str]:
    async with world.admin() as admin:
        r = await admin.get(f"/workgroups/{world.workgroup}/audit")
    return [record["outcome"] for record in r.json()["records"]]


async def test_an_approved_merge_runs_once_and_its_result_reaches_the_agent(world: ToolWorld) -> None:
    await merge_needs_approval(world)
    number = open_pull(world)
    bot = await world.agent("backend-bot", [{"credential": "github"}])
    token = bot.headers["authorization"].removeprefix("Bearer ")
    ws_url = "ws" + world.nexus.url.removeprefix("http") + "/v1/agents/connect"
    async with connect(
        ws_url, additional_headers={"Authorization": f"Bearer {token}"}, subprotocols=[SUBPROTOCOL]
    ) as ws:
        await ws.send(RegisterFrame(data={"capabilities": [], "runtime_version": "test"}).model_dump_json())
        r = await bot.post(
            "/v1/tools/invoke",
            json={
                "tool": "github",
                "action": "pulls.merge",
                "args": {"owner": "acme", "repo": "api", "number": number},
            },
        )
        assert r.status_code == 202, r.text
        approval_id = r.json()["approvalId"]
        assert r.json()["status"] == "pending_approval"
        announced = await eventually(
            lambda: [m for m in world.slack.messages(world.channel) if "pulls.merge" in m.get("text", "")],
            what="the approval request in Slack",
        )
        buttons = next(b for b in announced[0]["blocks"] if b["type"] == "actions")["elements"]
        assert {b["value"] for b in buttons} == {approval_id}
        assert not world.github.state.repos[REPO.lower()].issues[number]["merged"]

        assert (await click(world, STRANGER, "approve", approval_id)).status_code == 200
        await eventually(
            lambda: any(e["user"] == STRANGER for e in world.slack.workspace.ephemerals), what="a refusal"
        )
        assert (await click(world, BOT_USER_ID, "approve", approval_id)).status_code == 200
        await eventually(
            lambda: any(e["user"] == BOT_USER_ID for e in world.slack.workspace.ephemerals), what="refusal"
        )
        assert not world.github.state.repos[REPO.lower()].issues[number]["merged"]

        assert (await click(world, APPROVER, "approve", approval_id)).status_code == 200
        async with asyncio.timeout(10):
            while True:
                frame = parse_server_frame(await ws.recv())
                if frame.type == "HEARTBEAT":
                    await ws.send(HeartbeatFrame().model_dump_json())
                    continue
                break
        assert frame.type == "TOOL_RESULT"
        assert frame.data.request_id == approval_id
        assert frame.data.ok is True
        assert frame.data.result["merged"] is True
    assert world.github.state.repos[REPO.lower()].issues[number]["merged"] is True
    assert (await click(world, APPROVER, "approve", approval_id)).status_code == 200  # a second click
    await eventually(
        lambda: sum(e["user"] == APPROVER for e in world.slack.workspace.ephemerals) == 1, what="refusal"
    )
    merges = [c for c in world.github.calls if c.path.endswith(f"/pulls/{number}/merge")]
    assert len(merges) == 1
    updated = await eventually(
        lambda: [m for m in world.slack.messages(world.channel) if "was approved" in m.get("text", "")],
        what="the update",
    )
    assert f"<@{APPROVER}>" in json.dumps(updated[0]["blocks"])
    assert await outcomes(world) == ["pending", "approved"]
    assert world.github.token not in json.dumps(world.slack.messages(world.channel))


async def test_a_member_of_an_approver_group_may_deny_and_the_call_never_runs(world: ToolWorld) -> None:
    await merge_needs_approval(world)
    world.slack.workspace.usergroups["S0GROUP01"] = ["UGROUPMEMBER"]
    number = open_pull(world)
    bot = await world.agent("backend-bot", [{"credential": "github"}])
    r = await bot.post(
        "/v1/tools/invoke",
        json={
            "tool": "github",
            "action": "pulls.merge",
            "args": {"owner": "acme", "repo": "api", "number": number},
        },
    )
    approval_id = r.json()["approvalId"]
    await click(world, "UGROUPMEMBER", "deny", approval_id)
    await eventually(
        lambda: [m for m in world.slack.messages(world.channel) if "was denied" in m.get("text", "")],
        what="the denial",
    )
    assert await outcomes(world) == ["pending", "denied"]
    assert not [c for c in world.github.calls if c.path.endswith("/merge")]


@pytest.mark.parametrize("tool_settings", [{"tool_approval_sweep_seconds": 0.2}])
async def test_an_unanswered_approval_expires_as_denied(world: ToolWorld) -> None:
    await merge_needs_approval(world, timeout=30)
    bot = await world.agent("backend-bot", [{"credential": "github"}])
    r = await bot.post(
        "/v1/tools/invoke",
        json={
            "tool": "github",
            "action": "pulls.merge",
            "args": {"owner": "acme", "repo": "api", "number": 1},
        },
    )
    assert r.status_code == 202
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(world.nexus.settings.database.url)
    try:
        async with engine.begin() as conn:  # the deadline passes without waiting 30 s
            # Only this test's approval: the database is the session's, and expiring every test's
            # leftovers at once made this Nexus conclude them all first.
            await conn.execute(
                text(
                    "UPDATE tool_approvals SET expires_at = now() - interval '1 second' WHERE workgroup = :wg"
                ),
                {"wg": world.workgroup},
            )
    finally:
        await engine.dispose()
    await eventually(
        lambda: [m for m in world.slack.messages(world.channel) if "was expired" in m.get("text", "")],
        what="expiry",
    )
    assert (await outcomes(world))[-1] == "expired"


async def test_an_unsigned_or_malformed_click_is_refused(world: ToolWorld) -> None:
    async with httpx.AsyncClient(base_url=world.nexus.url) as anyone:
        unsigned = await anyone.post("/webhooks/slack/interactivity", content=b"payload=%7B%7D")
    assert unsigned.status_code == 401
    body = b"payload=not-json"
    ts = str(int(time.time()))
    headers = {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": sign_slack_body(body, ts, world.signing_secret),
    }
    async with httpx.AsyncClient(base_url=world.nexus.url) as slack:
        malformed = await slack.post("/webhooks/slack/interactivity", content=body, headers=headers)
    assert malformed.status_code == 400


async def test_an_approval_does_not_run_a_call_the_credential_no_longer_allows(world: ToolWorld) -> None:
    await merge_needs_approval(world)
    number = open_pull(world)
    bot = await world.agent("backend-bot", [{"credential": "github"}])
    args = {"owner": "acme", "repo": "api", "number": number}
    r = await bot.post("/v1/tools/invoke", json={"tool": "github", "action": "pulls.merge", "args": args})
    approval_id = r.json()["approvalId"]
    await world.credential(  # narrowed while the request waits in Slack
        "github",
        type="github",
        value=world.github.token,
        allowedActions=["issues.*"],
        config={"baseUrl": world.github.url},
        approval={"actions": ["pulls.merge"], "approvers": [APPROVER]},
    )
    await click(world, APPROVER, "approve", approval_id)
    await eventually(
        lambda: [m for m in world.slack.messages(world.channel) if "was approved" in m.get("text", "")],
        what="decision",
    )
    # The message is updated after the audit record is written, so the record is there by now.
    assert (await outcomes(world)) == ["pending", "denied"]
    assert not [c for c in world.github.calls if c.path.endswith("/merge")]
