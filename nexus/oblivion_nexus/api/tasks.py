"""``/v1/tasks``: the REST routes agents act through, authenticated by their access token.

``GET /v1/tasks/{id}/context`` reads, ``POST /v1/tasks/{id}/messages`` posts to the thread (with an
optional ``Idempotency-Key``), ``PATCH /v1/tasks/{id}`` moves the state. Errors are
``{"detail": …}`` with the status the service chose (:mod:`.api.errors` writes them); 401 carries
``WWW-Authenticate: Bearer`` as RFC 6750 asks, 429 and retryable 409/502/503 carry ``Retry-After``.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from oblivion_nexus.api.deps import ResourcesDep
from oblivion_nexus.services.agent_tasks import actions as tasks
from oblivion_nexus.services.auth.revocation import check_standing
from oblivion_nexus.services.auth.tokens import AgentIdentity, MissingToken, verify_access_token
from oblivion_nexus.services.registry.task_states import TaskState

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/tasks", tags=["tasks"])

TaskId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="The ClickUp task id.")]
# Slack refuses messages longer than 40,000 characters.
MAX_MESSAGE_CHARS = 40_000


async def agent_identity(request: Request, resources: ResourcesDep) -> AgentIdentity:
    """The agent whose ``Authorization: Bearer`` access token this request carries.

    The token must be signed by Nexus and still speak for its agent: 401 when it is bad, expired or
    revoked (fetch a new one), 403 when the agent is disabled, deleted or unknown, 503 when the
    registry cannot say (the errors carry these answers).
    """
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise MissingToken()
    identity = verify_access_token(resources.settings, token.strip())
    await check_standing(resources, identity, getattr(request.app.state, "delivery", None))
    return identity


IdentityDep = Annotated[AgentIdentity, Depends(agent_identity)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)


class MessageRequest(_Body):
    text: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS, description="What the agent says.")


class StateRequest(_Body):
    state: TaskState = Field(description="TODO, IN_PROGRESS, BLOCKED_ON_HUMAN or DONE.")


class ThreadMessage(_Body):
    ts: str | None
    user: str | None = None
    bot_id: str | None = Field(default=None, alias="botId")
    username: str | None = None
    text: str


class TaskView(_Body):
    id: str
    name: str
    description: str
    status: str | None
    url: str | None
    list_id: str | None = Field(alias="listId")
    assignees: list[str]
    tags: list[str]
    creator: str | None


class ContextView(_Body):
    task: TaskView
    project: str
    state: TaskState
    channel: str
    thread_ts: str | None = Field(alias="threadTs")
    thread: list[ThreadMessage]


class StateView(_Body):
    task_id: str = Field(alias="taskId")
    state: TaskState
    previous_state: TaskState = Field(alias="previousState")
    changed: bool
    clickup_status: str | None = Field(alias="clickupStatus")


@router.get("/{task_id}/context", response_model=ContextView)
async def get_context(task_id: TaskId, identity: IdentityDep, resources: ResourcesDep) -> ContextView:
    """The task fresh from ClickUp, its whole Slack thread, and its state."""
    found = await tasks.task_context(resources, identity, task_id)
    task = found.task
    return ContextView(
        task=TaskView(
            id=task.id,
            name=task.name,
            description=task.plain_description,
            status=task.status.status if task.status else None,
            url=task.url,
            list_id=task.home_list.id if task.home_list else None,
            assignees=[user.display_name for user in task.assignees],
            tags=[tag.name for tag in task.tags],
            creator=task.creator.display_name if task.creator else None,
        ),
        project=found.project,
        state=found.state,
        channel=found.channel,
        thread_ts=found.thread_ts,
        thread=[
            ThreadMessage(ts=m.ts, user=m.user, bot_id=m.bot_id, username=m.username, text=m.text)
            for m in found.messages
        ],
    )


@router.post("/{task_id}/messages", status_code=status.HTTP_201_CREATED)
async def post_message(
    task_id: TaskId,
    body: MessageRequest,
    identity: IdentityDep,
    resources: ResourcesDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    """Post in the task's thread under the agent's name and icon, mirrored as a ClickUp comment."""
    answer = await tasks.post_message(resources, identity, task_id, body.text, idempotency_key)
    return JSONResponse(answer.body, status_code=answer.status)


@router.patch("/{task_id}", response_model=StateView)
async def patch_task(
    task_id: TaskId, body: StateRequest, identity: IdentityDep, resources: ResourcesDep
) -> StateView:
    """Move the task to another state; the project's status map says which ClickUp status follows."""
    change = await tasks.change_state(resources, identity, task_id, body.state)
    return StateView(
        task_id=change.task_id,
        state=change.state,
        previous_state=change.previous,
        changed=change.changed,
        clickup_status=change.clickup_status,
    )
