"""Budgets and metrics of the model gateway on a real Nexus: a spent budget refuses with 429 and
``Retry-After`` and tells the task's thread once; every call shows on ``/metrics``."""

from __future__ import annotations

import datetime as dt

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.fakes.models import FakeModels
from tests.support.agent_tasks import TaskWorld
from tests.support.model_gateway import chat, model_agent, model_credential, usage_today

MINI = {"provider": "openai", "name": "gpt-4o-mini"}
HELLO = [{"role": "user", "content": "summarise the thread"}]


def budget_notices(world: TaskWorld, task: str) -> list[str]:
    return [m["text"] for m in world.thread(task) if "model budget" in m.get("text", "")]


async def test_a_spent_task_budget_refuses_with_429_and_tells_the_thread_once(
    world: TaskWorld, models: FakeModels
) -> None:
    await model_credential(world, models)
    await model_agent(world, "coder", MINI, budget={"tokensPerTask": 5})
    agent = world.agents["coder"]
    task = world.track_task("Fix login", agents=["coder"])
    other = world.track_task("Write docs", agents=["coder"])

    first = await chat(agent, {"messages": HELLO}, task_id=task)  # 7 tokens: it ends the budget
    second = await chat(agent, {"messages": HELLO}, task_id=task)
    third = await chat(agent, {"messages": HELLO}, task_id=task)
    elsewhere = await chat(agent, {"messages": HELLO}, task_id=other)

    assert first.status_code == 200, "the budget is checked before a call, never half-way"
    assert second.status_code == third.status_code == 429
    assert int(second.headers["retry-after"]) >= 1
    assert second.json()["error"]["type"] == "budget_exceeded"
    assert elsewhere.status_code == 200, "another task has its own budget"
    notices = budget_notices(world, task)
    assert len(notices) == 1
    assert "coder" in notices[0]
    assert "tokensPerTask" in notices[0]
    assert len(models.requests) == 2


async def test_a_spent_day_budget_refuses_until_midnight_utc(world: TaskWorld, models: FakeModels) -> None:
    await model_credential(world, models)
    agent = await model_agent(world, "coder", MINI, budget={"tokensPerDay": 5})

    assert (await chat(agent, {"messages": HELLO})).status_code == 200
    refused = await chat(agent, {"messages": HELLO})

    assert refused.status_code == 429
    now = dt.datetime.now(dt.UTC)
    midnight = (now + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    assert abs(int(refused.headers["retry-after"]) - (midnight - now).total_seconds()) < 60
    assert (await usage_today(world, "coder", calls=1))["promptTokens"] > 0


async def test_calls_tokens_and_cost_show_on_metrics(world: TaskWorld, models: FakeModels) -> None:
    await model_credential(world, models)
    agent = await model_agent(world, "coder", MINI)
    models.say("one two three")
    answer = (await chat(agent, {"messages": HELLO})).json()
    refused = await chat(agent, {"model": "gpt-4o", "messages": HELLO})
    assert refused.status_code == 403

    async with httpx.AsyncClient(base_url=world.nexus.url) as client:
        text = (await client.get("/metrics")).text

    assert models.api_key not in text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    labels = {"workgroup": world.workgroup, "agent": "coder", "model": "gpt-4o-mini"}

    def sample(name: str, **extra: str) -> float:
        return samples[(name, tuple(sorted({**labels, **extra}.items())))]

    assert sample("oblivion_model_tokens_total", kind="prompt") == answer["usage"]["prompt_tokens"]
    assert sample("oblivion_model_tokens_total", kind="completion") == 3
    assert sample("oblivion_model_calls_total", outcome="ok") == 1
    assert sample("oblivion_model_cost_usd_total") > 0
    refused_labels = {**labels, "model": "gpt-4o", "outcome": "refused"}
    assert samples[("oblivion_model_calls_total", tuple(sorted(refused_labels.items())))] == 1
