"""An invoke retried with the same Idempotency-Key gets the first answer and never acts twice upstream."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.support.tool_gateway import REPO, ToolWorld

CREATE = {"owner": "acme", "repo": "api", "title": "Flaky deploy"}


async def invoke(
    agent: httpx.AsyncClient, key: str | None, action: str = "issues.create", **args: Any
) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    body = {"tool": "github", "action": action, "args": args or CREATE}
    return await agent.post("/v1/tools/invoke", json=body, headers=headers)


def issue_posts(world: ToolWorld) -> int:
    return sum(1 for c in world.github.calls if c.method == "POST" and c.path == f"/repos/{REPO}/issues")


async def outcomes(world: ToolWorld) -> list[str]:
    async with world.admin() as admin:
        r = await admin.get(f"/workgroups/{world.workgroup}/audit")
    return [record["outcome"] for record in r.json()["records"]]


async def test_a_retry_with_the_same_key_gets_the_first_answer_and_creates_one_issue(
    world: ToolWorld,
) -> None:
    bot = await world.agent("backend-bot", [{"credential": "github"}])
    first = await invoke(bot, "create-flaky-deploy-1")
    again = await invoke(bot, "create-flaky-deploy-1")
    assert first.status_code == again.status_code == 200, (first.text, again.text)
    assert again.json() == first.json()
    assert issue_posts(world) == 1
    assert await outcomes(world) == ["ok"]
    other = await invoke(bot, "create-flaky-deploy-2")
    assert other.json()["result"]["number"] != first.json()["result"]["number"]
    assert issue_posts(world) == 2


async def test_without_a_key_every_call_runs(world: ToolWorld) -> None:
    bot = await world.agent("backend-bot", [{"credential": "github"}])
    assert (await invoke(bot, None)).status_code == 200
    assert (await invoke(bot, None)).status_code == 200
    assert issue_posts(world) == 2


async def test_a_key_reused_for_another_call_is_refused_with_422_and_runs_nothing(world: ToolWorld) -> None:
    bot = await world.agent("backend-bot", [{"credential": "github"}])
    assert (await invoke(bot, "k-1")).status_code == 200
    r = await invoke(bot, "k-1", **{**CREATE, "title": "Another issue"})
    assert r.status_code == 422
    assert "different request" in r.json()["detail"]
    assert issue_posts(world) == 1


async def test_keys_belong_to_one_agent(world: ToolWorld) -> None:
    one = await world.agent("backend-bot", [{"credential": "github"}])
    two = await world.agent("frontend-bot", [{"credential": "github"}])
    assert (await invoke(one, "shared-key")).status_code == 200
    assert (await invoke(two, "shared-key")).status_code == 200
    assert issue_posts(world) == 2


async def test_a_duplicate_arriving_while_the_first_runs_is_refused_and_never_runs(world: ToolWorld) -> None:
    bot = await world.agent("backend-bot", [{"credential": "github"}])
    world.github.state.lock.acquire()  # the fake GitHub holds every request until released
    try:
        calls = [asyncio.create_task(invoke(bot, "slow-create")) for _ in range(2)]
        async with asyncio.timeout(10):
            done, _ = await asyncio.wait(calls, return_when=asyncio.FIRST_COMPLETED)
        [refused] = [task.result() for task in done]
        assert refused.status_code == 409, refused.text
        assert refused.headers["Retry-After"] == "1"
    finally:
        world.github.state.lock.release()
    answers = await asyncio.gather(*calls)
    assert sorted(r.status_code for r in answers) == [200, 409]
    assert issue_posts(world) == 1
    replay = await invoke(bot, "slow-create")
    assert replay.status_code == 200
    assert replay.json() == next(r.json() for r in answers if r.status_code == 200)
    assert issue_posts(world) == 1


async def test_a_call_refused_before_it_ran_frees_its_key(world: ToolWorld) -> None:
    bot = await world.agent("backend-bot", [{"credential": "github"}])
    r = await invoke(bot, "k-fix", owner="acme", repo="api")  # no title: outside the schema
    assert r.status_code == 422
    r = await invoke(bot, "k-fix")
    assert r.status_code == 200, r.text
    assert issue_posts(world) == 1


async def test_an_upstream_failure_is_replayed_not_retried(world: ToolWorld) -> None:
    bot = await world.agent("backend-bot", [{"credential": "github"}])
    missing = {**CREATE, "repo": "missing"}
    first = await invoke(bot, "k-missing", **missing)
    again = await invoke(bot, "k-missing", **missing)
    assert first.status_code == again.status_code == 502
    assert again.json() == first.json()
    posts = [c for c in world.github.calls if c.method == "POST" and c.path == "/repos/acme/missing/issues"]
    assert len(posts) == 1
    assert await outcomes(world) == ["failed"]


async def test_a_retried_call_needing_approval_files_one_approval(world: ToolWorld) -> None:
    await world.credential(
        "github",
        type="github",
        value=world.github.token,
        allowedActions=["*"],
        config={"baseUrl": world.github.url},
        approval={"actions": ["pulls.merge"], "approvers": ["UAPPROVER1"], "timeoutSeconds": 600},
    )
    bot = await world.agent("backend-bot", [{"credential": "github"}])
    merge = {"owner": "acme", "repo": "api", "number": 1}
    first = await invoke(bot, "merge-1", "pulls.merge", **merge)
    again = await invoke(bot, "merge-1", "pulls.merge", **merge)
    assert first.status_code == again.status_code == 202
    assert again.json()["approvalId"] == first.json()["approvalId"]
    assert await outcomes(world) == ["pending"]
    announced = [m for m in world.slack.messages(world.channel) if "pulls.merge" in m.get("text", "")]
    assert len(announced) == 1
