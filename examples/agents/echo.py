"""A minimal agent: logs every task and context update it receives.

Run it with ``oblivion agent run examples.agents.echo:agent`` from the repository root.
"""

from __future__ import annotations

from oblivion_agent import Agent, Context, ContextUpdate, TaskAssigned

agent = Agent("echo")


@agent.on_task
async def on_task(event: TaskAssigned, ctx: Context) -> None:
    ctx.logger.info("task %s assigned: %s", event.task_id, event.title)


@agent.on_context_update
async def on_context_update(event: ContextUpdate, ctx: Context) -> None:
    ctx.logger.info("task %s: %s from %s: %s", event.task_id, event.kind, event.author, event.text)
