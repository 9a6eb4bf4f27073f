"""The model gateway's test world: a workgroup's model credentials pointing at the fake model APIs
(``tests.fakes.models``), agents given a model, and their calls and usage as an agent and the
operator see them."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx

from tests.fakes.models import FakeModels
from tests.support.agent_tasks import TaskWorld
from tests.support.registry import RegisteredAgent
from tests.support.waiting import eventually

PRICES = "gpt-4o-mini=0.15/0.60,claude-sonnet-4=3/15"
PRICE_PER_MILLION = {
    "gpt-4o-mini": (Decimal("0.15"), Decimal("0.60")),
    "claude-sonnet-4": (Decimal(3), Decimal(15)),
}


def expected_cost(model: str, prompt: int, completion: int) -> Decimal:
    given, taken = PRICE_PER_MILLION[model]
    return ((prompt * given + completion * taken) / 1_000_000).quantize(Decimal("0.000001"))


async def model_credential(
    world: TaskWorld, models: FakeModels, name: str = "openai", *, type: str = "openai", **spec: Any
) -> None:
    """A credential of the workgroup holding the fake's key, its ``baseUrl`` the fake."""
    body = {
        "type": type,
        "value": models.api_key,
        "allowedActions": ["*"],
        "config": {"baseUrl": f"{models.url}/v1"},
        **spec,
    }
    async with world.admin() as admin:
        r = await admin.put(f"/internal/v1/workgroups/{world.workgroup}/credentials/{name}", json=body)
    assert r.status_code in (200, 201), r.text


async def model_agent(
    world: TaskWorld, name: str, model: dict[str, Any] | None, **spec: Any
) -> RegisteredAgent:
    if model is not None:
        spec["model"] = model
    return await world.register_agent(name, **spec)


async def chat(agent: RegisteredAgent, body: dict[str, Any], *, task_id: str | None = None) -> httpx.Response:
    headers = {"X-Oblivion-Task-Id": task_id} if task_id else {}
    async with await agent.client(timeout=30) as client:
        return await client.post("/v1/llm/chat/completions", json=body, headers=headers)


async def chat_stream(
    agent: RegisteredAgent, body: dict[str, Any], *, task_id: str | None = None
) -> tuple[httpx.Response, list[Any]]:
    """The response and its server-sent events' data, decoded (``"[DONE]"`` kept as text)."""
    headers = {"X-Oblivion-Task-Id": task_id} if task_id else {}
    events: list[Any] = []
    async with (
        await agent.client(timeout=30) as client,
        client.stream(
            "POST", "/v1/llm/chat/completions", json={**body, "stream": True}, headers=headers
        ) as response,
    ):
        raw = (await response.aread()).decode()
    for event in raw.split("\n\n"):
        if event.startswith("data: "):
            data = event[6:]
            events.append(data if data == "[DONE]" else json.loads(data))
    return response, events


async def usage_today(world: TaskWorld, agent: str, *, calls: int) -> dict[str, Any]:
    """The agent's usage of today once ``calls`` calls are recorded (rows are written just after the
    answers, so a test reading right after a call waits for them)."""

    async def read() -> dict[str, Any] | None:
        async with world.admin() as admin:
            r = await admin.get(f"/internal/v1/workgroups/{world.workgroup}/agents/{agent}/usage")
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body if body["calls"] >= calls else None

    usage: dict[str, Any] = await eventually(read, what=f"{calls} recorded calls of {agent}")
    assert usage["calls"] == calls, usage
    return usage
