"""A reference agent: acknowledges a task, posts a plan derived from its description, starts it.

Deterministic and without a model, so it shows the SDK's moves plainly: ``ctx.context()`` to rebuild
what it knows from the thread (agents keep no local state; a redelivered event must not make it
repeat itself), ``ctx.say()`` to speak in the thread (mirrored to ClickUp), ``ctx.set_state()`` to
move the task. Run it from the repository root::

    OBLIVION_NEXUS_URL=http://localhost:8080 OBLIVION_CLIENT_ID=… OBLIVION_CLIENT_SECRET=… \
        oblivion agent run examples.agents.triage:agent
"""

from __future__ import annotations

import re

from oblivion_agent import Agent, Context, TaskAssigned

agent = Agent("triage", capabilities=["TASK_ASSIGNED"])

ACKNOWLEDGEMENT = "Acknowledged:"
PLAN_HEADING = "Plan:"
# A plan longer than this is no longer a triage; the rest stays in the description.
MAX_STEPS = 7
DEFAULT_STEPS = (
    "Reproduce the problem described in the task",
    "Find the cause",
    "Fix it and add a test",
    "Report back here for review",
)

_MENTION = re.compile(r"(?<![\w@])@[\w.-]+")
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)]|\[[ xX]?\])\s+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def plan_from_description(description: str) -> list[str]:
    """The steps of a plan: the description's bullet points, else its sentences, else a default."""
    text = _MENTION.sub("", description).strip()
    lines = [line for line in text.splitlines() if line.strip()]
    bullets = [_BULLET.sub("", line).strip() for line in lines if _BULLET.match(line)]
    sentences = _SENTENCE_END.split(" ".join(line.strip() for line in lines))
    steps = bullets or [sentence.strip() for sentence in sentences]
    steps = [step.rstrip(".") for step in steps if len(step.strip(" .!?")) > 2]
    return steps[:MAX_STEPS] or list(DEFAULT_STEPS)


def render_plan(steps: list[str]) -> str:
    return PLAN_HEADING + "\n" + "\n".join(f"{n}. {step}" for n, step in enumerate(steps, start=1))


@agent.on_task
async def on_task(event: TaskAssigned, ctx: Context) -> None:
    known = await ctx.context()
    said = [message.text for message in known.thread if message.bot_id or message.username]
    if not any(text.startswith(ACKNOWLEDGEMENT) for text in said):
        await ctx.say(f"{ACKNOWLEDGEMENT} {known.task.name}. I am on it.")
    if not any(text.startswith(PLAN_HEADING) for text in said):
        await ctx.say(render_plan(plan_from_description(known.task.description or event.description)))
    if known.state in ("TODO", "BLOCKED_ON_HUMAN"):
        await ctx.set_state("IN_PROGRESS")
    ctx.logger.info("triaged task %s (%s)", event.task_id, known.task.name)
