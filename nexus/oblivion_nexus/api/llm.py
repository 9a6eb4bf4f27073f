"""``/v1/llm``: the model gateway, OpenAI's Chat Completions for agents; ``/internal/v1/…/usage`` for
the operator.

``POST /v1/llm/chat/completions`` takes OpenAI's request (messages, tools, ``response_format``,
``stream``) with the agent's access token, and answers as OpenAI does, errors included
(``{"error": {message, type, code, param}}``: the body of a ``ModelGatewayError``, which the app's
one error handler writes): 403 for a model the agent was not given (or none), 400 for a malformed
request, 429 with ``Retry-After`` over budget or when the provider limits, 502 when the provider
failed, 503 when the workgroup has no usable credential. The header
``X-Oblivion-Task-Id`` names the ClickUp task the call works on: its tokens count on that task (and
its budget), and the task must be assigned to the agent.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Request
from fastapi.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from oblivion_nexus.api.deps import AdminDep, get_resources
from oblivion_nexus.api.tasks import IdentityDep
from oblivion_nexus.services.llm import ModelGateway, ModelGatewayError
from oblivion_nexus.services.models import spending

router = APIRouter(tags=["models"])

TASK_HEADER = "X-Oblivion-Task-Id"
TaskHeader = Annotated[
    str | None,
    Header(
        alias=TASK_HEADER,
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="The ClickUp task this call works on (its tokens count there).",
    ),
]


def _gateway(request: Request) -> ModelGateway:
    gateway: ModelGateway = request.app.state.models
    return gateway


def _chat_request(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except ValueError:
        raise ModelGatewayError("the body is not JSON") from None
    if not isinstance(body, dict):
        raise ModelGatewayError("the body must be a JSON object")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ModelGatewayError("messages must be a non-empty list")
    if not isinstance(body.get("stream", False), bool):
        raise ModelGatewayError("stream must be true or false")
    return body


class EventStream(Response):
    """Server-sent events, each sent as it comes. They are read to their end even when the agent has
    hung up (the gateway counts a call once its usage arrives, last), and no task waits for the
    hang-up: sending to a closed connection does nothing, or raises OSError (ASGI 2.4)."""

    media_type = "text/event-stream"

    def __init__(self, events: AsyncIterator[bytes]) -> None:
        self.events = events
        self.status_code = 200
        self.background = None
        self.init_headers({"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        connected = True
        async for chunk in self.events:
            if connected:
                try:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                except OSError:
                    connected = False
        if connected:
            await send({"type": "http.response.body", "body": b"", "more_body": False})


@router.post("/v1/llm/chat/completions")
async def chat_completions(request: Request, identity: IdentityDep, task_id: TaskHeader = None) -> Response:
    """One chat completion with the agent's model, plain or streamed as server-sent events."""
    gateway = _gateway(request)
    body = _chat_request(await request.body())
    if body.get("stream"):
        events = await gateway.stream(identity, body, task_id, request.headers)
        return EventStream(events)
    return JSONResponse(await gateway.complete(identity, body, task_id, request.headers))


Name = Annotated[str, Path(min_length=1, max_length=253)]


@router.get("/internal/v1/workgroups/{wg}/agents/{name}/usage", dependencies=[AdminDep])
async def agent_usage(request: Request, wg: Name, name: Name) -> JSONResponse:
    """The agent's model usage of today (UTC), for its status: calls, tokens, cost."""
    day = dt.datetime.now(dt.UTC).date()
    async with get_resources(request).sessionmaker() as session:
        spent = await spending.named_agent_day(session, wg, name, day)
    if spent is None:
        return JSONResponse({"detail": f"agent {wg}/{name} is not registered"}, status_code=404)
    return JSONResponse({"day": day.isoformat(), **spent.as_json()})
