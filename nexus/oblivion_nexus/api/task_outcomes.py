"""``GET /internal/v1/tasks/{task_id}``: whether the worker tracked or ignored a ClickUp task, and why.

Behind the admin token like the rest of the registry API: it names workgroups, projects and agents.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from oblivion_nexus.api.deps import AdminDep, SessionDep
from oblivion_nexus.services.taskflow.outcomes import task_outcome

router = APIRouter(prefix="/internal/v1", tags=["registry"], dependencies=[AdminDep])

TaskId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="The ClickUp task id.")]


class TaskOutcomeView(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    task_id: str
    outcome: str
    reason: str | None
    explanation: str | None
    workgroup: str | None
    project: str | None
    slack_channel_id: str | None
    thread_ts: str | None
    agents: list[str]


@router.get("/tasks/{task_id}", response_model=TaskOutcomeView, response_model_by_alias=True)
async def get_task_outcome(task_id: TaskId, session: SessionDep) -> TaskOutcomeView:
    """``tracked`` (thread and agents), ``ignored`` (reason and what to do) or ``pending``."""
    found = await task_outcome(session, task_id)
    return TaskOutcomeView(
        task_id=found.task_id,
        outcome=found.outcome,
        reason=found.reason,
        explanation=found.explanation,
        workgroup=found.workgroup,
        project=found.project,
        slack_channel_id=found.slack_channel_id,
        thread_ts=found.thread_ts,
        agents=list(found.agents),
    )
