"""The public ``Agent``: handlers per event type, and the runtime that feeds them.

An agent module declares ``agent = Agent("name")`` and decorates one coroutine per event type it
handles; ``oblivion agent run module:agent`` (or ``agent.run()``) connects it to Nexus. Each handler
gets the event's data and a ``Context``; it returns normally when the event is handled, and only then
is the event acked. A handler that raises leaves the event unacked, so Nexus delivers it again.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import httpx

from oblivion_agent._connection import NexusLink
from oblivion_agent._dedupe import SeenEvents
from oblivion_agent._errors import AgentError, HandlerError
from oblivion_agent._memory import MemoryClient
from oblivion_agent._models import ModelClient
from oblivion_agent._settings import AgentSettings, load_settings
from oblivion_agent._tasks import PostedMessage, StateChange, TaskClient, TaskContext, TaskStateName
from oblivion_agent._token import TokenSource
from oblivion_agent._tools import ApprovalWaiters, ToolClient
from oblivion_agent._tracing import TaskTraces, add_trace_headers, use_task_trace
from oblivion_agent.protocol import (
    ContextUpdate,
    EventFrame,
    FrameType,
    Register,
    TaskAssigned,
    TaskCancelled,
    ToolResult,
    WakeUp,
)

logger = logging.getLogger(__name__)

E = TypeVar("E")
Handler = Callable[[E, "Context"], Awaitable[None]]
H = TypeVar("H", bound=Callable[..., Awaitable[None]])


def runtime_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"oblivion-agent/{version('oblivion')}"
    except PackageNotFoundError:
        return "oblivion-agent/0.0.0+unknown"


@dataclass(frozen=True)
class Context:
    """What a handler knows besides the event's data, and how it acts on the event's task.

    ``task_id`` is the task the event is about (``None`` for a ``WAKE_UP`` outside a task); the
    methods act on it unless given another task the agent works on.
    """

    event_id: str
    event_type: FrameType
    sent_at: datetime
    agent_name: str
    logger: logging.LoggerAdapter[logging.Logger]
    _settings: AgentSettings = field(repr=False)
    _http: httpx.AsyncClient = field(repr=False)
    _tokens: TokenSource = field(repr=False)
    task_id: str | None = None
    _approvals: ApprovalWaiters = field(default_factory=ApprovalWaiters, repr=False)

    @property
    def _tasks(self) -> TaskClient:
        return TaskClient(self._settings.nexus_url, self._http, self._tokens)

    def _task(self, task_id: str | None) -> str:
        chosen = task_id or self.task_id
        if not chosen:
            raise AgentError(f"this {self.event_type} event is about no task; pass task_id=")
        return chosen

    async def context(self, task_id: str | None = None) -> TaskContext:
        """The task fresh from ClickUp, its whole Slack thread and its state: rebuild what you know."""
        return await self._tasks.context(self._task(task_id))

    async def say(
        self, text: str, *, task_id: str | None = None, idempotency_key: str | None = None
    ) -> PostedMessage:
        """Post ``text`` in the task's Slack thread under the agent's name; it is mirrored to ClickUp.

        Each call posts once even when the SDK retries it; raises ``AgentMutedError`` when the agent
        sent more messages in a minute than its limit allows.
        """
        return await self._tasks.say(self._task(task_id), text, idempotency_key=idempotency_key)

    @property
    def tools(self) -> ToolClient:
        """The Tool Gateway as this agent: ``await ctx.tools.list()``, ``await ctx.tools.invoke(tool,
        action, args)`` (tied to this event's task; waits for a person's approval when one is needed)."""
        return ToolClient(self._settings.nexus_url, self._http, self._tokens, self._approvals, self.task_id)

    @property
    def models(self) -> ModelClient:
        """The Agent's model through Nexus's gateway: ``await ctx.models.chat(messages, tools=…)``
        (its tokens count on this event's task), or ``base_url``/``api_key()``/``headers`` for an
        OpenAI client."""
        return ModelClient(self._settings.nexus_url, self._http, self._tokens, self.task_id)

    @property
    def memory(self) -> MemoryClient:
        """The Memory Bank of the agent's projects: ``await ctx.memory.search("…", limit=5)`` answers
        typed hits, best first; ``await ctx.memory.related(task)`` in a ``TASK_ASSIGNED`` handler."""
        return MemoryClient(self._settings.nexus_url, self._http, self._tokens)

    async def set_state(self, state: TaskStateName, *, task_id: str | None = None) -> StateChange:
        """Move the task (``IN_PROGRESS``, ``BLOCKED_ON_HUMAN``, ``DONE``); raises
        ``IllegalTransitionError`` naming the allowed moves when the state machine forbids it."""
        return await self._tasks.set_state(self._task(task_id), state)


class Agent:
    """An agent: a name, one handler per event type, and the runtime that connects them to Nexus."""

    def __init__(self, name: str = "agent", *, capabilities: Sequence[str] = ()) -> None:
        self.name = name
        self.capabilities = list(capabilities)
        self._handlers: dict[FrameType, Callable[[Any, Context], Awaitable[None]]] = {}
        self._stopping: asyncio.Event | None = None
        self._abandoning: asyncio.Event | None = None  # a second stop: do not wait for handlers
        self._link: NexusLink | None = None
        self._approvals = ApprovalWaiters()  # calls waiting for a person's decision, by approval id
        self.handled = 0  # events whose handler returned normally, for monitoring and tests

    def __repr__(self) -> str:
        return f"Agent({self.name!r}, handles={sorted(self._handlers)})"

    # -- handler registration ---------------------------------------------------------------------

    def on_task(self, fn: Handler[TaskAssigned]) -> Handler[TaskAssigned]:
        """Handle ``TASK_ASSIGNED``: ``async def handler(event: TaskAssigned, ctx: Context) -> None``."""
        return self._register_handler(FrameType.TASK_ASSIGNED, fn)

    def on_context_update(self, fn: Handler[ContextUpdate]) -> Handler[ContextUpdate]:
        """Handle ``CONTEXT_UPDATE``: a reply, comment or edit on a task the agent works on."""
        return self._register_handler(FrameType.CONTEXT_UPDATE, fn)

    def on_wake_up(self, fn: Handler[WakeUp]) -> Handler[WakeUp]:
        """Handle ``WAKE_UP``: the agent was mentioned or should look again."""
        return self._register_handler(FrameType.WAKE_UP, fn)

    def on_task_cancelled(self, fn: Handler[TaskCancelled]) -> Handler[TaskCancelled]:
        """Handle ``TASK_CANCELLED``: a person stopped the work on a task; stop it and say so."""
        return self._register_handler(FrameType.TASK_CANCELLED, fn)

    def on_tool_result(self, fn: Handler[ToolResult]) -> Handler[ToolResult]:
        """Handle ``TOOL_RESULT``: the answer to a tool intent sent earlier."""
        return self._register_handler(FrameType.TOOL_RESULT, fn)

    def _register_handler(self, event_type: FrameType, fn: H) -> H:
        is_coroutine_function = inspect.iscoroutinefunction(fn)  # kept apart: no narrowing of fn
        if not is_coroutine_function:
            raise HandlerError(f"the {event_type} handler {fn!r} must be an `async def` function")
        if event_type in self._handlers:
            raise HandlerError(
                f"{self.name} already has a {event_type} handler: {self._handlers[event_type]!r}"
            )
        self._handlers[event_type] = fn
        return fn

    # -- running ----------------------------------------------------------------------------------

    def run(self, settings: AgentSettings | None = None) -> None:
        """Run until SIGTERM or SIGINT, then stop cleanly. Blocks; settings default to the environment."""
        asyncio.run(self._serve_until_signalled(settings))

    async def _serve_until_signalled(self, settings: AgentSettings | None) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._on_signal, signum)
        try:
            await self.serve(settings)
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)

    def _on_signal(self, signum: int) -> None:
        logger.info("%s received; stopping", signal.Signals(signum).name)
        self.stop()

    def stop(self) -> None:
        """Ask a running agent to stop: read no more events, finish running handlers, close 1000.

        A second call (a second SIGTERM or Ctrl-C) cancels the running handlers without waiting.
        """
        if self._stopping is None or self._abandoning is None:
            return
        if self._stopping.is_set() and not self._abandoning.is_set():
            logger.warning("asked to stop again: cancelling running handlers now")
            self._abandoning.set()
        self._stopping.set()

    @property
    def connected(self) -> asyncio.Event | None:
        """Set while the agent is connected and registered (``None`` when not running)."""
        return self._link.registered if self._link is not None else None

    async def serve(self, settings: AgentSettings | None = None) -> None:
        """Connect and handle events until ``stop()``; raises ``AgentDisabledError`` on close 4403."""
        if self._stopping is not None:
            raise AgentError(f"{self.name} is already running")
        settings = settings or load_settings()
        self._stopping = asyncio.Event()
        self._abandoning = asyncio.Event()
        try:
            hooks = {"request": [add_trace_headers]}  # a task's calls to Nexus join its trace
            async with httpx.AsyncClient(timeout=10.0, event_hooks=hooks) as http:
                tokens = TokenSource(settings.token_url, settings.client_id, settings.client_secret, http)
                dispatcher = _Dispatcher(self, settings, http, tokens, self._stopping, self._abandoning)
                register = Register(
                    capabilities=self.capabilities or sorted(str(t) for t in self._handlers),
                    runtime_version=runtime_version(),
                )
                self._link = NexusLink(settings, tokens, dispatcher.deliver, register)
                dispatcher.link = self._link
                try:
                    await self._link.run(self._stopping, dispatcher.drain)
                finally:
                    await dispatcher.cancel_all()
        finally:
            self._stopping = self._abandoning = None
            self._link = None


class _Dispatcher:
    """Runs handlers concurrently within a bound, drops duplicates, and acks what succeeded."""

    def __init__(
        self,
        agent: Agent,
        settings: AgentSettings,
        http: httpx.AsyncClient,
        tokens: TokenSource,
        stopping: asyncio.Event,
        abandoning: asyncio.Event,
    ) -> None:
        self._agent = agent
        self._stopping = stopping
        self._abandoning = abandoning
        self._settings = settings
        self._http = http
        self._tokens = tokens
        self._seen = SeenEvents(settings.seen_events_capacity)
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        self._slots = asyncio.Semaphore(settings.max_concurrent_handlers)
        self.link: NexusLink | None = None  # set once the link exists (it needs ``deliver`` first)
        self._failed: set[str] = set()  # events whose handler failed and did not succeed since
        self._traces = TaskTraces(settings.seen_events_capacity)

    async def deliver(self, frame: EventFrame) -> None:
        if self._stopping.is_set():
            return  # stopping: start nothing new; unacked, it goes to the next connection
        if frame.type == FrameType.TOOL_RESULT and isinstance(frame.data, ToolResult):
            # Wakes a handler waiting in ctx.tools.invoke; it holds a handler slot, so this must not
            # wait for one (all slots waiting for approvals would never be woken).
            self._agent._approvals.resolve(frame.data)
            if FrameType.TOOL_RESULT not in self._agent._handlers:
                self._seen.add(frame.id)
                await self._ack(frame.id)
                return
        if self._seen.seen(frame.id):
            logger.debug("event %s was already handled; acking the duplicate", frame.id)
            await self._ack(frame.id)
            return
        if frame.id in self._in_flight:
            return  # redelivered while its handler still runs; that handler acks it
        await self._slots.acquire()  # waiting here stops the reader: backpressure, not a growing queue
        if self._stopping.is_set():
            self._slots.release()
            return
        self._in_flight[frame.id] = asyncio.create_task(self._handle(frame), name=f"event-{frame.id}")

    async def _handle(self, frame: EventFrame) -> None:
        ok = False
        try:
            ok = await self._call_handler(frame)
        finally:
            if ok:
                self._seen.add(frame.id)
            del self._in_flight[frame.id]
            self._slots.release()
        assert self.link is not None
        if ok:
            self._failed.discard(frame.id)
            if not self._failed:
                self.link.redelivery_backoff.reset()
            await self._ack(frame.id)
        else:
            if len(self._failed) >= self._settings.seen_events_capacity:
                self._failed.clear()  # those events expired from the inbox long ago
            self._failed.add(frame.id)
            self.link.request_redelivery()

    async def _ack(self, event_id: str) -> None:
        assert self.link is not None, "events arrive only through the link"
        await self.link.ack(event_id)

    async def _call_handler(self, frame: EventFrame) -> bool:
        handler = self._agent._handlers.get(frame.type)
        if handler is None:
            logger.info(
                "%s has no %s handler; acking event %s unhandled", self._agent.name, frame.type, frame.id
            )
            return True
        task_id = getattr(frame.data, "task_id", None)
        if isinstance(frame.data, TaskAssigned):
            self._traces.remember(frame.data)
        use_task_trace(self._traces.of(task_id))  # this handler's own asyncio task only
        ctx = Context(
            event_id=frame.id,
            event_type=frame.type,
            sent_at=frame.ts,
            agent_name=self._agent.name,
            logger=logging.LoggerAdapter(logger, {"event_id": frame.id}),
            _settings=self._settings,
            _http=self._http,
            _tokens=self._tokens,
            task_id=task_id,
            _approvals=self._agent._approvals,
        )
        try:
            await handler(frame.data, ctx)
        except Exception as e:
            logger.error(
                "%s handler failed on event %s (%s); not acked, Nexus will deliver it again",
                frame.type,
                frame.id,
                type(e).__name__,
                exc_info=True,
            )
            return False
        self._agent.handled += 1
        return True

    async def drain(self) -> None:
        """Let running handlers finish within the grace period; the rest are cancelled (and not acked)."""
        if not self._in_flight:
            return
        grace = self._settings.shutdown_grace_seconds
        logger.info("waiting up to %.0f s for %d running handler(s)", grace, len(self._in_flight))
        handlers = asyncio.ensure_future(asyncio.wait(list(self._in_flight.values()), timeout=grace))
        abandon = asyncio.ensure_future(self._abandoning.wait())
        await asyncio.wait([handlers, abandon], return_when=asyncio.FIRST_COMPLETED)
        for waiter in (handlers, abandon):
            waiter.cancel()
        if self._in_flight:
            logger.warning("%d handler(s) did not finish; their events stay unacked", len(self._in_flight))
        await self.cancel_all()

    async def cancel_all(self) -> None:
        tasks = list(self._in_flight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
