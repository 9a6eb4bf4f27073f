"""Copying a project's history into the Memory Bank: what was said before its channel was mapped.

Events are the Memory Bank's source; this reads what came before them. Slack's channel history
(newest first, page after page) and every thread in it, then the project's ClickUp tasks (name and
description) and their comments, each handed to ``rag-ingestion`` exactly as the events hand them
over: same point ids, so a re-run, or an event of the same message, never duplicates anything.

Slack limits ``conversations.history`` and ``conversations.replies`` hard for most apps (one request
a minute for some), so a rate limit is waited out as Slack's ``Retry-After`` says, never retried
early. Progress (the history cursor, the threads still to read, the counts, a wait for a rate limit
and until when) is written to the project's ``memory_backfills`` row after every page, so a backfill
that stopped resumes where it was and anyone can see how far it got (``backfill_runs`` runs it for the
admin route, one at a time per project).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from oblivion_nexus.integrations.clickup import TASKS_PAGE_SIZE, ClickUpApiError, ClickUpRateLimited
from oblivion_nexus.integrations.slack import SlackApiError, SlackRateLimited
from oblivion_nexus.services.taskflow.clients import require_clickup, require_slack
from oblivion_nexus.services.taskflow.context import FlowContext
from oblivion_nexus.services.taskflow.errors import FlowError
from oblivion_nexus.services.taskflow.remembering import (
    REMEMBERED_SUBTYPES,
    hand_over_comment,
    hand_over_message,
)
from oblivion_nexus.stores import tables as t

logger = logging.getLogger(__name__)

_T = TypeVar("_T")
# Slack's page size for history; the documented maximum is 1,000, 200 is what Slack recommends.
HISTORY_PAGE = 200
# When Slack or ClickUp names no wait, one minute: the tightest documented tier allows that.
_DEFAULT_WAIT_SECONDS = 60.0

Progress = Callable[[dict[str, Any]], None]
# Told before each wait for a rate limit: how long, for which call.
Waiting = Callable[[float, str], Awaitable[None]]


class BackfillError(FlowError):
    """The backfill cannot run for this project (not registered, no channel, no Slack token)."""


async def _patiently(what: str, call: Callable[[], Awaitable[_T]], waiting: Waiting) -> _T:
    """``call()``, waiting out every rate limit for as long as the vendor's ``Retry-After`` says."""
    while True:
        try:
            return await call()
        except (SlackRateLimited, ClickUpRateLimited) as e:
            wait = e.retry_after or _DEFAULT_WAIT_SECONDS
            await waiting(wait, what)
            await asyncio.sleep(wait)


async def backfill_project(flow: FlowContext, workgroup: str, project: str, say: Progress) -> dict[str, Any]:
    """Hand the project's Slack and ClickUp history to the Memory Bank; returns the final progress.

    ``say`` gets the progress after every page and each wait for a rate limit."""
    async with flow.resources.sessionmaker() as session:
        row = (
            await session.execute(
                select(t.Project.id, t.Project.slack_channel_id, t.Project.clickup_list_id).where(
                    t.Project.workgroup == workgroup, t.Project.name == project
                )
            )
        ).one_or_none()
        if row is None:
            raise BackfillError(f"project {workgroup}/{project} is not registered")
        stored = await session.get(t.MemoryBackfill, row.id)
    progress: dict[str, Any] = dict(stored.progress) if stored is not None else {}
    if stored is not None and stored.state == "done":
        progress = {}  # asked again: read everything again (nothing is duplicated)
    owner = (workgroup, project)
    channel, list_id = row.slack_channel_id, row.clickup_list_id

    async def save(state: str, *, error: str | None = None, not_before: datetime | None = None) -> None:
        progress["state"] = state
        if not_before is None:
            progress.pop("rate_limited", None)
        values: dict[str, Any] = {
            "state": state,
            "progress": progress,
            "updated_at": datetime.now(UTC),
            "last_error": error,
            "not_before": not_before,
            "finished_at": datetime.now(UTC) if state == "done" else None,
        }
        statement = insert(t.MemoryBackfill).values(project_id=row.id, **values)
        statement = statement.on_conflict_do_update(index_elements=[t.MemoryBackfill.project_id], set_=values)
        async with flow.resources.sessionmaker() as session:
            await session.execute(statement)
            await session.commit()
        say(dict(progress))

    async def waiting(seconds: float, what: str) -> None:
        until = datetime.now(UTC) + timedelta(seconds=seconds)
        progress["rate_limited"] = {"for": what, "seconds": seconds}
        await save("running", not_before=until)
        say({"waiting": seconds, "for": what})

    async def running() -> None:
        await save("running")

    for counter in ("messages", "threads_read", "tasks", "comments"):
        progress.setdefault(counter, 0)
    await running()
    try:
        if channel and not progress.get("slack_done"):
            await _slack_history(flow, owner, channel, progress, running, waiting)
        if list_id and not progress.get("clickup_done"):
            await _clickup_tasks(flow, owner, list_id, progress, running, waiting)
    except Exception as e:
        await save("failed", error=failure_reason(e))
        raise
    await save("done")
    return progress


def failure_reason(error: Exception) -> str:
    """What a failed backfill is shown with: our errors and the vendors' say what happened; anything
    else is named by its type only (its text could hold a URL or a value)."""
    if isinstance(error, FlowError | SlackApiError | ClickUpApiError):
        return f"{type(error).__name__}: {error}"[:300]
    return type(error).__name__


async def _slack_history(
    flow: FlowContext,
    owner: tuple[str, str],
    channel: str,
    progress: dict[str, Any],
    save: Callable[[], Awaitable[None]],
    waiting: Waiting,
) -> None:
    slack = require_slack(flow.resources)
    identity = await _patiently("auth.test", slack.identity, waiting)
    team = identity.team_id or "-"
    threads: list[str] = list(progress.get("threads", []))
    while not progress.get("history_done"):
        cursor = progress.get("cursor")
        page, following = await _patiently(
            "conversations.history",
            partial(slack.history_page, channel, cursor=cursor, limit=HISTORY_PAGE),
            waiting,
        )
        for message in page:
            if message.ts is None or message.subtype not in REMEMBERED_SUBTYPES:
                continue
            if await hand_over_message(flow, *owner, team, channel, message, float(message.ts)):
                progress["messages"] += 1
            if message.reply_count and message.thread_ts == message.ts:
                threads.append(message.ts)
        progress["cursor"], progress["threads"] = following, threads
        progress["history_done"] = following is None
        await save()
    while threads:
        parent = threads[0]
        replies = await _patiently("conversations.replies", partial(slack.replies, channel, parent), waiting)
        for message in replies:
            if message.ts is None or message.ts == parent or message.subtype not in REMEMBERED_SUBTYPES:
                continue
            if await hand_over_message(flow, *owner, team, channel, message, float(message.ts)):
                progress["messages"] += 1
        threads.pop(0)
        progress["threads"], progress["threads_read"] = threads, progress["threads_read"] + 1
        await save()
    progress["slack_done"] = True


async def _clickup_tasks(
    flow: FlowContext,
    owner: tuple[str, str],
    list_id: str,
    progress: dict[str, Any],
    save: Callable[[], Awaitable[None]],
    waiting: Waiting,
) -> None:
    clickup = require_clickup(flow.resources)
    assert flow.memory is not None
    page = int(progress.get("clickup_page", 0))
    while True:
        listed = await _patiently(
            "ClickUp tasks", partial(clickup.list_tasks, list_id, page=page, include_closed=True), waiting
        )
        for task in listed.tasks:
            await flow.memory.task_changed(*owner, task.id, "backfill")
            progress["tasks"] += 1
            comments = await _patiently("ClickUp comments", partial(_all_comments, flow, task.id), waiting)
            for comment in comments:
                version = float(comment.date or 0)
                if await hand_over_comment(
                    flow, owner, task.id, comment.id, comment.user, comment.plain_text, comment.date, version
                ):
                    progress["comments"] += 1
        last = listed.last_page if listed.last_page is not None else len(listed.tasks) < TASKS_PAGE_SIZE
        page += 1
        progress["clickup_page"] = page
        await save()
        if last or not listed.tasks:
            break
    progress["clickup_done"] = True


async def _all_comments(flow: FlowContext, task_id: str) -> list[Any]:
    return [c async for c in require_clickup(flow.resources).iter_task_comments(task_id)]
