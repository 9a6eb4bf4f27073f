"""The Oblivion agent SDK and runtime.

Declare an ``Agent``, decorate a coroutine per event type, and run it with
``oblivion agent run package.module:agent``::

    from oblivion_agent import Agent, Context, TaskAssigned

    agent = Agent("echo")

    @agent.on_task
    async def on_task(event: TaskAssigned, ctx: Context) -> None:
        ctx.logger.info("got task %s: %s", event.task_id, event.title)
        await ctx.say("On it.")                  # in the task's Slack thread and as a ClickUp comment
        await ctx.set_state("IN_PROGRESS")       # and the ClickUp status the project maps it to
        for hit in await ctx.memory.related(event):  # what the project said about it before
            ctx.logger.info("%s (%s): %s", hit.author, hit.link, hit.text)
        plan = await ctx.models.chat([{"role": "user", "content": event.description}])
        issue = await ctx.tools.invoke("github", "issues.create", {"owner": "acme", "repo": "api",
                                                                    "title": event.title})

The wire protocol lives in ``oblivion_agent.protocol``; Nexus imports only that module.
"""

from __future__ import annotations

from oblivion_agent._agent import Agent, Context
from oblivion_agent._errors import (
    AgentDisabledError,
    AgentError,
    ConfigurationError,
    HandlerError,
    TokenError,
)
from oblivion_agent._memory import MemoryClient, MemorySearchError
from oblivion_agent._models import ModelCallError, ModelClient
from oblivion_agent._settings import AgentSettings, load_settings
from oblivion_agent._tasks import (
    AgentMutedError,
    IllegalTransitionError,
    PostedMessage,
    StateChange,
    TaskApiError,
    TaskContext,
    TaskInfo,
    ThreadMessage,
)
from oblivion_agent._tools import ToolCallError, ToolClient, ToolDeniedError, ToolInfo, ToolOutcome
from oblivion_agent.protocol import ContextUpdate, MemoryHit, TaskAssigned, TaskCancelled, ToolResult, WakeUp

__all__ = [
    "Agent",
    "AgentDisabledError",
    "AgentError",
    "AgentMutedError",
    "AgentSettings",
    "ConfigurationError",
    "Context",
    "ContextUpdate",
    "HandlerError",
    "IllegalTransitionError",
    "MemoryClient",
    "MemoryHit",
    "MemorySearchError",
    "ModelCallError",
    "ModelClient",
    "PostedMessage",
    "StateChange",
    "TaskApiError",
    "TaskAssigned",
    "TaskCancelled",
    "TaskContext",
    "TaskInfo",
    "ThreadMessage",
    "TokenError",
    "ToolCallError",
    "ToolClient",
    "ToolDeniedError",
    "ToolInfo",
    "ToolOutcome",
    "ToolResult",
    "WakeUp",
    "load_settings",
]
