"""The SDK carries a task's trace context: the ``traceparent`` of its ``TASK_ASSIGNED`` goes on every
call a handler makes to Nexus about that task, and on nothing else."""

from __future__ import annotations

import asyncio

import httpx

from oblivion_agent._models import ModelClient
from oblivion_agent._tracing import TaskTraces, add_trace_headers, current_trace_headers, use_task_trace
from oblivion_agent.protocol import TaskAssigned

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def assigned(task_id: str, traceparent: str | None) -> TaskAssigned:
    return TaskAssigned(task_id=task_id, project="auth", title="Fix login", traceparent=traceparent)


def test_a_tasks_trace_is_remembered_and_untraced_tasks_have_none() -> None:
    traces = TaskTraces(capacity=2)
    traces.remember(assigned("t1", PARENT))
    traces.remember(assigned("t2", None))
    assert traces.of("t1") == {"traceparent": PARENT}
    assert traces.of("t2") is None
    assert traces.of(None) is None
    traces.remember(assigned("t3", PARENT))
    traces.remember(assigned("t4", PARENT))
    assert traces.of("t1") is None, "only the most recent tasks are kept"


async def test_calls_made_while_handling_a_traced_task_carry_its_traceparent() -> None:
    seen: list[str | None] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("traceparent"))
        return httpx.Response(200, json={})

    hooks = {"request": [add_trace_headers]}
    async with httpx.AsyncClient(transport=httpx.MockTransport(answer), event_hooks=hooks) as http:

        async def handler(headers: dict[str, str] | None) -> None:
            use_task_trace(headers)
            await http.get("http://nexus/v1/tools")

        await asyncio.gather(
            asyncio.create_task(handler({"traceparent": PARENT})), asyncio.create_task(handler(None))
        )
        await http.get("http://nexus/v1/tools")
    assert sorted(seen, key=str) == [PARENT, None, None]


async def test_a_model_clients_headers_carry_the_trace_for_an_openai_client() -> None:
    async def handler() -> dict[str, str]:
        use_task_trace({"traceparent": PARENT})
        async with httpx.AsyncClient() as http:
            return ModelClient("http://nexus", http, None, "t1").headers  # type: ignore[arg-type]

    assert await asyncio.create_task(handler()) == {"traceparent": PARENT, "X-Oblivion-Task-Id": "t1"}
    assert current_trace_headers() == {}
