"""The built-in `clickup` and `slack` tools: an agent reads and comments on its projects' ClickUp tasks
and posts in their Slack channels through Nexus's own connections, with no ToolCredential.

Each call runs in two steps so the gateway can decide in between. :meth:`BuiltinTools.locate` finds
what the call would touch and the project that owns it (a task's home list, a list, a project by
name, a tracked task's thread), reading ClickUp only where a task's list must be learnt; nothing read
there leaves before :func:`.policy.decide_scope` has allowed the project. :meth:`BuiltinTools.run`
then acts. Status changes stay with ``/v1/tasks``, which keeps the task's state machine.

Arguments are pydantic models in camelCase, like the rest of the agent API; their JSON Schemas are
what ``GET /v1/tools`` and MCP list.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select

from oblivion_nexus.integrations.clickup import COMMENTS_PAGE_SIZE, TASKS_PAGE_SIZE, ClickUpApiError
from oblivion_nexus.integrations.clickup_models import Comment, Task
from oblivion_nexus.integrations.slack_text import escape_text
from oblivion_nexus.resources import Resources
from oblivion_nexus.services import registry
from oblivion_nexus.services.auth.tokens import AgentIdentity
from oblivion_nexus.services.registry.schemas import BUILTIN_ACTIONS, AgentRecord
from oblivion_nexus.services.taskflow import ledger, mirror
from oblivion_nexus.services.taskflow.clients import require_clickup, require_slack
from oblivion_nexus.services.tools.policy import ProjectRef
from oblivion_nexus.stores import tables as t

BUILTINS = tuple(BUILTIN_ACTIONS)
TaskId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="A ClickUp task id.")]
ProjectName = Annotated[
    str, Field(min_length=1, max_length=253, description="A project of the agent's token, by name.")
]
ListId = Annotated[str, Field(pattern=r"^[0-9A-Za-z_-]{1,64}$", description="A ClickUp list id.")]
# The same bound as an agent's messages through /v1/tasks (Slack cuts a message at 40,000 characters).
Text = Annotated[str, Field(min_length=1, max_length=40_000)]


class Args(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False)


class TaskArgs(Args):
    task_id: TaskId = Field(alias="taskId")


class TaskListArgs(Args):
    """One list's tasks: name the project (its ClickUp list) or the list id."""

    project: ProjectName | None = None
    list_id: ListId | None = Field(default=None, alias="listId")
    page: int = Field(default=0, ge=0, le=1000, description="ClickUp pages hold up to 100 tasks.")
    include_closed: bool = Field(default=False, alias="includeClosed")

    @model_validator(mode="after")
    def _one_list(self) -> TaskListArgs:
        if (self.project is None) == (self.list_id is None):
            raise ValueError("name exactly one of project and listId")
        return self


class CommentListArgs(TaskArgs):
    """A task's comments, 25 at a time, newest first; pass the previous answer's `next` to page on."""

    start: int | None = Field(default=None, ge=0, description="`next.start` of the previous page.")
    start_id: str | None = Field(default=None, alias="startId", max_length=64)

    @model_validator(mode="after")
    def _both_or_neither(self) -> CommentListArgs:
        if (self.start is None) != (self.start_id is None):
            raise ValueError("give start and startId together")
        return self


class CommentCreateArgs(TaskArgs):
    text: Text


class MessagePostArgs(Args):
    """Post in a project's channel (`project`) or in a tracked task's thread (`taskId`)."""

    project: ProjectName | None = None
    task_id: TaskId | None = Field(default=None, alias="taskId")
    text: Text

    @model_validator(mode="after")
    def _one_place(self) -> MessagePostArgs:
        if (self.project is None) == (self.task_id is None):
            raise ValueError("name exactly one of project and taskId")
        return self


@dataclass(frozen=True)
class BuiltinAction:
    tool: str
    name: str
    summary: str
    args: type[Args]

    def schema(self) -> dict[str, Any]:
        """The arguments' JSON Schema (a copy: the catalog hands it out)."""
        return copy.deepcopy(_schema_of(self.args))


@functools.cache
def _schema_of(args: type[Args]) -> dict[str, Any]:
    return args.model_json_schema()


ACTIONS: dict[str, dict[str, BuiltinAction]] = {
    "clickup": {
        "tasks.get": BuiltinAction(
            "clickup", "tasks.get", "Read a ClickUp task of one of your projects.", TaskArgs
        ),
        "tasks.list": BuiltinAction(
            "clickup",
            "tasks.list",
            "List the tasks of one of your projects' ClickUp lists (100 a page).",
            TaskListArgs,
        ),
        "comments.list": BuiltinAction(
            "clickup",
            "comments.list",
            "Read the comments of a ClickUp task of one of your projects (25 a page, newest first).",
            CommentListArgs,
        ),
        "comments.create": BuiltinAction(
            "clickup",
            "comments.create",
            "Comment on a ClickUp task of one of your projects (shown as '<you> (Oblivion): text').",
            CommentCreateArgs,
        ),
    },
    "slack": {
        "messages.post": BuiltinAction(
            "slack",
            "messages.post",
            "Post under your name in one of your projects' Slack channels, or in a tracked task's thread.",
            MessagePostArgs,
        ),
    },
}


class BuiltinUnavailable(Exception):
    """The call is in scope but cannot run now (no list, no channel, no thread yet): HTTP 409."""


@dataclass(frozen=True)
class Target:
    """What a call would touch (`what`, as a refusal names it), the project owning it (None: no
    project's), and what was read to learn that, for :meth:`BuiltinTools.run` to reuse."""

    what: str
    owner: ProjectRef | None
    task: Task | None = None
    project: t.Project | None = None
    mapping: t.TaskMapping | None = None


class BuiltinTools:
    """One per gateway; acts with the process's own ClickUp and Slack clients."""

    def __init__(self, resources: Resources) -> None:
        self._resources = resources

    async def locate(self, identity: AgentIdentity, tool: str, action: str, args: Any) -> Target:
        """What the call would touch and its project; ClickUp errors other than an unknown task raise."""
        if tool == "clickup" and action == "tasks.list":
            return await self._list_target(identity, args)
        if tool == "clickup":
            return await self._task_target(args.task_id)
        if args.project is not None:
            project = await self._project(identity.workgroup, args.project)
            owner = ProjectRef(project.workgroup, project.name) if project else None
            return Target(f"project {args.project!r}", owner, project=project)
        async with self._resources.sessionmaker() as session:
            mapping = (
                await session.execute(
                    select(t.TaskMapping).where(t.TaskMapping.clickup_task_id == args.task_id)
                )
            ).scalar_one_or_none()
        owner = ProjectRef(mapping.workgroup, mapping.project) if mapping else None
        return Target(f"task {args.task_id}", owner, mapping=mapping)

    async def _task_target(self, task_id: str) -> Target:
        try:
            task = await require_clickup(self._resources).get_task(task_id)
        except ClickUpApiError as e:
            if e.status == 404:  # as out of reach as a task of another workgroup
                return Target(f"task {task_id}", None)
            raise
        list_id = task.home_list.id if task.home_list else None
        project = await self._project_of_list(list_id) if list_id else None
        owner = ProjectRef(project.workgroup, project.name) if project else None
        return Target(f"task {task_id}", owner, task=task, project=project)

    async def _list_target(self, identity: AgentIdentity, args: TaskListArgs) -> Target:
        if args.project is not None:
            project = await self._project(identity.workgroup, args.project)
            what = f"project {args.project!r}"
        else:
            project = await self._project_of_list(args.list_id or "")
            what = f"list {args.list_id}"
        owner = ProjectRef(project.workgroup, project.name) if project else None
        return Target(what, owner, project=project)

    async def _project(self, workgroup: str, name: str) -> t.Project | None:
        async with self._resources.sessionmaker() as session:
            return (
                await session.execute(
                    select(t.Project).where(t.Project.workgroup == workgroup, t.Project.name == name)
                )
            ).scalar_one_or_none()

    async def _project_of_list(self, list_id: str) -> t.Project | None:
        async with self._resources.sessionmaker() as session:
            return (
                await session.execute(select(t.Project).where(t.Project.clickup_list_id == list_id))
            ).scalar_one_or_none()

    async def run(
        self, identity: AgentIdentity, tool: str, action: str, args: Any, target: Target, invocation: str
    ) -> Any:
        """Act on an allowed target; the result as the agent gets it."""
        project = target.owner.name if target.owner else None
        if action == "tasks.get":
            assert target.task is not None  # located by reading it
            return task_view(target.task, project)
        if action == "tasks.list":
            list_id = target.project.clickup_list_id if target.project else None
            if not list_id:
                raise BuiltinUnavailable(f"project {project!r} has no ClickUp list")
            page = await require_clickup(self._resources).list_tasks(
                list_id, page=args.page, include_closed=args.include_closed
            )
            # Only tasks whose home is this list: one shown here from another list (ClickUp's tasks in
            # several lists) may belong to another project, or to another workgroup.
            return {
                "tasks": [
                    task_view(task, project)
                    for task in page.tasks
                    if task.home_list is None or task.home_list.id == list_id
                ],
                "page": args.page,
                "lastPage": page.last_page
                if page.last_page is not None
                else len(page.tasks) < TASKS_PAGE_SIZE,
            }
        if action == "comments.list":
            comments = await require_clickup(self._resources).get_task_comments(
                args.task_id, start=args.start, start_id=args.start_id
            )
            last = comments[-1] if comments else None
            more = len(comments) == COMMENTS_PAGE_SIZE and last is not None and last.date is not None
            return {
                "comments": [comment_view(c) for c in comments],
                "next": {"start": last.date, "startId": last.id} if more and last else None,
            }
        agent = await self._agent(identity)
        name = mirror.agent_display_name(agent)
        if action == "comments.create":
            key = ledger.intent_key(f"builtin:{identity.workgroup}/{identity.agent}:{invocation}:clickup")
            comment_id = await mirror.comment_on_task(
                self._resources, args.task_id, key, f"{name} (Oblivion): {args.text}"
            )
            return {"id": comment_id, "taskId": args.task_id}
        channel, thread_ts = self._place(target, project)
        text = args.text if agent.allow_mentions else escape_text(args.text)
        posted = await require_slack(self._resources).post_message(
            channel,
            text,
            thread_ts=thread_ts,
            username=name,
            icon_url=agent.icon_url,
            icon_emoji=agent.icon_emoji if agent.icon_url is None else None,
        )
        return {"channel": posted.channel, "ts": posted.ts, "threadTs": thread_ts}

    @staticmethod
    def _place(target: Target, project: str | None) -> tuple[str, str | None]:
        if target.mapping is not None:
            if not target.mapping.thread_ts:
                raise BuiltinUnavailable(f"{target.what} has no Slack thread yet")
            return target.mapping.slack_channel_id, target.mapping.thread_ts
        channel = target.project.slack_channel_id if target.project else None
        if not channel:
            raise BuiltinUnavailable(f"project {project!r} has no Slack channel")
        return channel, None

    async def _agent(self, identity: AgentIdentity) -> AgentRecord:
        async with self._resources.sessionmaker() as session:
            agent = await registry.get_agent(session, identity.workgroup, identity.agent)
        if agent is None:  # deleted since its token was checked
            raise BuiltinUnavailable(f"agent {identity.agent!r} is no longer registered")
        return agent


def task_view(task: Task, project: str | None) -> dict[str, Any]:
    """A task as an agent reads it: what people see in ClickUp, not ClickUp's whole record."""
    return {
        "id": task.id,
        "name": task.name,
        "description": task.text_content or task.description or "",
        "status": task.status.status if task.status else None,
        "url": task.url,
        "project": project,
        "listId": task.home_list.id if task.home_list else None,
        "parent": task.parent,
        "assignees": [u.display_name for u in task.assignees],
        "tags": [tag.name for tag in task.tags],
        "dateCreated": task.date_created,
        "dateUpdated": task.date_updated,
    }


def comment_view(comment: Comment) -> dict[str, Any]:
    return {
        "id": comment.id,
        "text": comment.plain_text,
        "author": comment.user.display_name if comment.user else None,
        "date": comment.date,
        "resolved": comment.resolved,
    }
