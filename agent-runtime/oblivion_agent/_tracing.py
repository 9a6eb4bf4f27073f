"""A task's trace context, carried from its ``TASK_ASSIGNED`` onto the agent's calls to Nexus.

When Nexus traces, ``TASK_ASSIGNED`` carries the task's W3C ``traceparent`` (and ``tracestate``).
The SDK remembers it per task and sends it as headers on every call a handler makes to Nexus about
that task (models, tools, memory, the task's thread and state), so Nexus's spans for those calls join
the task's trace. The SDK needs no OpenTelemetry for this: it only passes the headers on.
"""

from __future__ import annotations

from collections import OrderedDict
from contextvars import ContextVar

import httpx

from oblivion_agent.protocol import TaskAssigned

# The trace headers of the task the running handler is about (None outside a traced task).
_CURRENT: ContextVar[dict[str, str] | None] = ContextVar("oblivion_task_trace", default=None)


class TaskTraces:
    """The trace headers of the tasks this agent was assigned, the most recent ``capacity`` of them."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._capacity = capacity
        self._headers: OrderedDict[str, dict[str, str]] = OrderedDict()

    def remember(self, assigned: TaskAssigned) -> None:
        if assigned.traceparent is None:
            return
        headers = {"traceparent": assigned.traceparent}
        if assigned.tracestate:
            headers["tracestate"] = assigned.tracestate
        self._headers[assigned.task_id] = headers
        self._headers.move_to_end(assigned.task_id)
        while len(self._headers) > self._capacity:
            self._headers.popitem(last=False)

    def of(self, task_id: str | None) -> dict[str, str] | None:
        return self._headers.get(task_id) if task_id is not None else None


def use_task_trace(headers: dict[str, str] | None) -> None:
    """Make ``headers`` the trace of the calls the current handler (and what it starts) makes."""
    _CURRENT.set(headers)


def current_trace_headers() -> dict[str, str]:
    """The trace headers of the task being handled (empty outside a traced task)."""
    return dict(_CURRENT.get() or {})


async def add_trace_headers(request: httpx.Request) -> None:
    """httpx request hook: a call made while handling a traced task carries its trace context."""
    headers = _CURRENT.get()
    if headers:
        for name, value in headers.items():
            request.headers.setdefault(name, value)
