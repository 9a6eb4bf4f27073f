"""The default agent's handlers: take a task on, resume it when a person replies, stop when told.

Each event starts from what Nexus says now (the task, its thread, its state), so a redelivered event
or a restarted pod never says hello twice, never works on a task that is done, and never starts
again while a question waits for its answer. Runs on one task take turns (one lock per task in this
process); runs on different tasks go side by side. A reply that arrives while a run goes on is handed
to that run for its next model call instead of starting another.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from oblivion_agent._agent import Agent, Context
from oblivion_agent._memory import MemorySearchError
from oblivion_agent._tasks import TaskContext
from oblivion_agent._tools import ToolCallError
from oblivion_agent.default._loop import Run, Toolbox, build_loop, work
from oblivion_agent.default._settings import DefaultAgentSettings, load_default_settings
from oblivion_agent.default._transcript import Message, conversation, has_spoken, unanswered
from oblivion_agent.protocol import ContextUpdate, MemoryHit, TaskAssigned, TaskCancelled

logger = logging.getLogger(__name__)

# The replies a person makes; a status change or an edited description is no answer to a question.
_REPLIES = frozenset({"slack_reply", "clickup_comment"})


def acknowledgement(known: TaskContext) -> str:
    return f"On it: {known.task.name}. I will post my progress here."


def stop_notice(event: TaskCancelled, *, running: bool) -> str:
    why = "The task was closed" if event.reason == "closed" else "Asked to stop"
    if event.author:
        why += f" by {event.author}"
    what = "so I stopped" if running else "so I will not go on"
    return f"{why}, {what}. Reply here if I should pick it up again."


def create_agent(settings: DefaultAgentSettings | None = None) -> Agent:
    """The default agent; ``settings`` default to the environment, read when the first event comes."""
    agent = Agent("default", capabilities=["TASK_ASSIGNED", "CONTEXT_UPDATE", "TASK_CANCELLED"])
    loop = build_loop()
    locks = _TaskLocks()
    runs = _Runs()
    chosen: list[DefaultAgentSettings] = [settings] if settings is not None else []

    def current() -> DefaultAgentSettings:
        if not chosen:
            chosen.append(load_default_settings())
        return chosen[0]

    async def resume(
        ctx: Context, known: TaskContext, mailbox: list[Message], latest: str | None = None
    ) -> None:
        config = current()
        if known.state != "IN_PROGRESS":
            await ctx.set_state("IN_PROGRESS")
        hits = await _remembered(ctx, known, config.memory_hits)
        try:
            toolbox = Toolbox.of(await ctx.tools.list())
        except ToolCallError as e:
            logger.warning("could not list the tools for task %s: %s", known.task.id, e)
            toolbox = Toolbox({})
        run = Run(ctx=ctx, settings=config, toolbox=toolbox, mailbox=mailbox)
        final = await work(loop, run, conversation(known, hits, config, latest=latest))
        while final["outcome"] == "asked" and mailbox:
            # Someone wrote while it was asking: the question may be answered already; go on.
            await ctx.set_state("IN_PROGRESS")
            final = await work(loop, run, final["messages"])
        outcome = final["outcome"]
        if outcome == "step_limit":
            await ctx.say(
                f"I stopped after {config.max_steps} steps without finishing. Reply here to let me go on, "
                "or take it from here."
            )
        elif outcome == "budget":
            await ctx.say(
                "My model budget for this is spent, so I stopped here. Raise the budget or wait for it "
                "to renew, then reply here to let me go on."
            )
        elif outcome == "model_error":
            detail = final["detail"]
            await ctx.say(f"I could not get an answer from my model ({detail}). Reply to let me retry.")
        if outcome in ("step_limit", "budget", "model_error"):
            await ctx.set_state("BLOCKED_ON_HUMAN")
        logger.info("task %s: run ended (%s) after %d model calls", known.task.id, outcome, final["steps"])

    @agent.on_task
    async def on_task(event: TaskAssigned, ctx: Context) -> None:
        own = current().posting_names
        async with locks.hold(event.task_id):
            known = await ctx.context()
            if known.state == "DONE":
                logger.info("task %s is done; nothing to do", event.task_id)
                return
            if not has_spoken(known, own):
                await ctx.say(acknowledgement(known))  # the sign of life, before any model call
            elif known.state == "BLOCKED_ON_HUMAN" and not unanswered(known, own):
                logger.info("task %s waits for a person's answer", event.task_id)
                return
            await runs.run(event.task_id, lambda mailbox: resume(ctx, known, mailbox))

    @agent.on_context_update
    async def on_context_update(event: ContextUpdate, ctx: Context) -> None:
        if event.kind not in _REPLIES:
            logger.info("task %s: %s changed; nothing to answer", event.task_id, event.kind)
            return
        reply = f"{event.author or 'someone'}: {event.text}"
        if event.text.strip() and runs.tell(event.task_id, {"role": "user", "content": reply}):
            logger.info("task %s: a reply goes to the run under way", event.task_id)
            return
        own = current().posting_names
        async with locks.hold(event.task_id):
            known = await ctx.context()
            if known.state == "DONE":
                logger.info("task %s is done; a reply does not reopen it", event.task_id)
                return
            seen = {m.text.strip() for m in unanswered(known, own)}
            latest = event.text if event.text.strip() and event.text.strip() not in seen else None
            if not seen and latest is None:
                logger.info("task %s: every reply is answered already", event.task_id)
                return
            await runs.run(event.task_id, lambda mailbox: resume(ctx, known, mailbox, latest))

    @agent.on_task_cancelled
    async def on_task_cancelled(event: TaskCancelled, ctx: Context) -> None:
        stopped = runs.stop(event.task_id)
        if stopped is not None:
            await asyncio.wait([stopped])  # its handler then lets go of the task's lock
        async with locks.hold(event.task_id):
            known = await ctx.context()
            if stopped is None and known.state == "DONE":
                logger.info("task %s is done; nothing to stop", event.task_id)
                return
            await ctx.say(stop_notice(event, running=stopped is not None))
            if known.state == "IN_PROGRESS":
                await ctx.set_state("BLOCKED_ON_HUMAN")

    return agent


class _TaskLocks:
    """One lock per task, dropped when no run holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, task_id: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(task_id, (asyncio.Lock(), 0))
        self._locks[task_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[task_id]
            if users == 1:
                del self._locks[task_id]
            else:
                self._locks[task_id] = (lock, users - 1)


class _Runs:
    """The run going on for each task, so a person's stop can cancel it and a reply can reach it."""

    def __init__(self) -> None:
        self._jobs: dict[str, asyncio.Task[None]] = {}
        self._mailboxes: dict[str, list[Message]] = {}

    async def run(self, task_id: str, work: Callable[[list[Message]], Coroutine[Any, Any, None]]) -> None:
        """Run ``work(mailbox)`` for the task; a stop ends it quietly (the stop's handler speaks)."""
        mailbox: list[Message] = []
        job = asyncio.ensure_future(work(mailbox))
        self._jobs[task_id] = job
        self._mailboxes[task_id] = mailbox
        try:
            await job  # the handler cancelled (a shutdown) cancels the job too
        except asyncio.CancelledError:
            me = asyncio.current_task()
            if me is not None and me.cancelling():
                raise
            logger.info("task %s: the run was stopped", task_id)
        finally:
            if self._jobs.get(task_id) is job:
                del self._jobs[task_id]
                del self._mailboxes[task_id]

    def tell(self, task_id: str, message: Message) -> bool:
        """Hand a reply to the task's run under way, for its next model call; False when none is."""
        job = self._jobs.get(task_id)
        if job is None or job.done():
            return False
        self._mailboxes[task_id].append(message)
        return True

    def stop(self, task_id: str) -> asyncio.Task[None] | None:
        """Cancel the task's run; the cancelled job, or None when none was going."""
        job = self._jobs.get(task_id)
        if job is None or job.done():
            return None
        job.cancel()
        return job


async def _remembered(ctx: Context, known: TaskContext, limit: int) -> list[MemoryHit]:
    if limit == 0:
        return []
    task = known.task
    assigned = TaskAssigned(
        task_id=task.id, project=known.project, title=task.name, description=task.description
    )
    try:
        return await ctx.memory.related(assigned, limit=limit)
    except MemorySearchError as e:
        logger.warning("memory search for task %s failed; going on without it: %s", known.task.id, e)
        return []
