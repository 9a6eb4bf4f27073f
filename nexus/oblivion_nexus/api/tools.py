"""``/v1/tools``: agents list and call tools through Nexus; ``/internal/v1/…/audit`` pages the trail.

``GET /v1/tools`` lists what the calling agent may use, each action with its arguments' JSON
Schema. ``POST /v1/tools/invoke`` runs one: 200 with the (scrubbed) result, 403 with the rule that
refused it, 404 for an unknown tool, action or credential, 422 for arguments outside the schema, 429
with ``Retry-After`` (the agent's rate limit or the upstream's), 502 when the upstream failed. With
an ``Idempotency-Key`` a retry gets the first answer (:mod:`.services.tools.invoke_once`): 422 for the
key reused with another body, 409 with ``Retry-After`` while the first call still runs.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from oblivion_nexus.api.deps import AdminDep, get_resources
from oblivion_nexus.api.errors import InvalidRequest
from oblivion_nexus.api.tasks import IdentityDep
from oblivion_nexus.integrations.slack import SlackError
from oblivion_nexus.integrations.slack_interactivity import ButtonClick, parse_interaction
from oblivion_nexus.services.taskflow.signatures import verify_slack_signature
from oblivion_nexus.services.tools.gateway import InvokeRequest, ToolGateway
from oblivion_nexus.services.tools.invoke_once import invoke_once

logger = logging.getLogger(__name__)

router = APIRouter(tags=["tools"])


class InvokeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tool: str = Field(min_length=1, max_length=64, description="github, http, clickup or slack")
    action: str = Field(min_length=1, max_length=512, description="e.g. issues.create, or GET /status")
    args: dict[str, Any] = Field(default_factory=dict)
    credential: str | None = Field(default=None, max_length=253, description="Omitted: the agent's only one.")
    task_id: str | None = Field(default=None, alias="taskId", pattern=r"^[A-Za-z0-9_-]{1,64}$")


def _gateway(request: Request) -> ToolGateway:
    gateway: ToolGateway = request.app.state.tools
    return gateway


@router.get("/v1/tools")
async def list_tools(request: Request, identity: IdentityDep) -> dict[str, Any]:
    return {"tools": await _gateway(request).catalog(identity)}


@router.post("/v1/tools/invoke")
async def invoke(
    request: Request,
    body: InvokeBody,
    identity: IdentityDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    """Run one action; with an ``Idempotency-Key``, at most once (a retry gets the first answer)."""
    call = InvokeRequest(body.tool, body.action, body.args, body.credential, body.task_id)
    outcome = await invoke_once(_gateway(request), get_resources(request), identity, call, idempotency_key)
    return JSONResponse(outcome.body, status_code=outcome.status)


Workgroup = Annotated[str, Path(min_length=1, max_length=253)]


@router.get("/internal/v1/workgroups/{wg}/audit", dependencies=[AdminDep])
async def audit_page(
    request: Request,
    wg: Workgroup,
    after_seq: Annotated[int, Query(alias="afterSeq", ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    agent: Annotated[str | None, Query(max_length=253)] = None,
    outcome: Annotated[str | None, Query(max_length=32)] = None,
    tool: Annotated[str | None, Query(max_length=64)] = None,
    task_id: Annotated[str | None, Query(alias="taskId", max_length=64)] = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> dict[str, Any]:
    """The workgroup's tool audit records after ``afterSeq``, oldest first; page on with ``nextAfterSeq``."""
    if (since and since.tzinfo is None) or (until and until.tzinfo is None):
        raise InvalidRequest("since and until need a time zone (e.g. 2026-12-07T10:00:00Z)")
    records = await _gateway(request).audit.page(
        wg,
        after_seq=after_seq,
        limit=limit,
        agent=agent,
        outcome=outcome,
        tool=tool,
        task_id=task_id,
        since=since,
        until=until,
    )
    return {"records": records, "nextAfterSeq": records[-1]["seq"] if len(records) == limit else None}


@router.post(
    "/webhooks/slack/interactivity", summary="Slack interactivity: Approve / Deny clicks (v0 signature)"
)
async def slack_interactivity(request: Request, background: BackgroundTasks) -> Response:
    """Verified like Slack's events, answered at once (Slack allows 3 s); the decision runs after."""
    resources = get_resources(request)
    body = await request.body()
    secret = resources.settings.slack.signing_secret
    verify_slack_signature(
        body,
        request.headers.get("x-slack-request-timestamp"),
        request.headers.get("x-slack-signature"),
        secret.get_secret_value() if secret else "",
        time.time(),
    )
    click = parse_interaction(body)
    background.add_task(_decide, _gateway(request), click)
    return Response(status_code=200)


async def _decide(gateway: ToolGateway, click: ButtonClick) -> None:
    refusal = await gateway.handle_click(click)
    slack = gateway.slack
    if refusal is not None and slack is not None and click.channel_id:
        try:
            await slack.post_ephemeral(click.channel_id, click.user_id, refusal, thread_ts=click.thread_ts)
        except SlackError as e:
            logger.warning("could not tell %s why their click did not count: %s", click.user_id, e)
