"""What the default agent knows about a task, rebuilt each time from the task and its thread.

The agent keeps no state between events: the ClickUp description says what is asked, the Slack
thread says what was done, asked and answered. Its own messages (posted under its name) become the
model's earlier turns, people's replies (in Slack, or mirrored from ClickUp comments) the user's, and
Nexus's notices (a spent budget, a mute) are quoted as such.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from typing import Any

from oblivion_agent._tasks import TaskContext, ThreadMessage
from oblivion_agent.default._settings import DefaultAgentSettings
from oblivion_agent.protocol import MemoryHit

Message = dict[str, Any]

ASK_HUMAN = "ask_human"
FINISH = "finish"
# Nexus mirrors a ClickUp comment into the thread under "<author> (ClickUp)".
_CLICKUP_SUFFIX = " (ClickUp)"
# A remembered chunk is context, not the task: the model gets the start of each.
_MEMORY_CHARS = 600


class Speaker(Enum):
    AGENT = "agent"  # this agent
    PERSON = "person"  # a person in Slack, or a ClickUp comment mirrored into the thread
    NOTICE = "notice"  # Nexus itself, another agent, or another bot


def speaker(message: ThreadMessage, own_names: frozenset[str]) -> Speaker:
    if message.username and message.username in own_names:
        return Speaker.AGENT
    if not message.bot_id or (message.username or "").endswith(_CLICKUP_SUFFIX):
        return Speaker.PERSON
    return Speaker.NOTICE


def replies(known: TaskContext) -> list[ThreadMessage]:
    """The thread without its root message (the task's title, posted by Nexus)."""
    return [m for m in known.thread if not (known.thread_ts and m.ts == known.thread_ts)]


def has_spoken(known: TaskContext, own_names: frozenset[str]) -> bool:
    return any(speaker(m, own_names) is Speaker.AGENT for m in replies(known))


def unanswered(known: TaskContext, own_names: frozenset[str]) -> list[ThreadMessage]:
    """People's messages after the agent's last one: what it has not answered yet."""
    pending: list[ThreadMessage] = []
    for message in replies(known):
        who = speaker(message, own_names)
        if who is Speaker.AGENT:
            pending = []
        elif who is Speaker.PERSON:
            pending.append(message)
    return pending


def system_prompt(settings: DefaultAgentSettings) -> str:
    name = settings.display_name or settings.name
    parts = [f"You are {name}, an AI member of an engineering team. People give you tasks in ClickUp."]
    if settings.description:
        parts.append(f"What you are for: {settings.description}")
    if settings.instructions:
        parts.append(settings.instructions)
    parts.append(
        "How you work: people see your work in the task's Slack thread. Use your tools to do the work; "
        "what you write besides a tool call is posted in the thread as progress. When you need a "
        f"decision or something only a person knows, call {ASK_HUMAN} with one clear question and "
        f"stop. When the task is done, call {FINISH} with a short summary of what you did and what is "
        "left. Never invent a tool result."
    )
    return "\n\n".join(parts)


def task_brief(known: TaskContext, hits: Sequence[MemoryHit]) -> str:
    task = known.task
    lines = [f"Task: {task.name}"]
    if task.url:
        lines.append(f"Link: {task.url}")
    lines.append(f"Project: {known.project}")
    lines.append("Description:\n" + (task.description.strip() or "(none)"))
    if hits:
        lines.append("What the project remembers that may bear on it:")
        for hit in hits:
            source = f"{hit.author or 'someone'}, {hit.kind}" + (f", {hit.link}" if hit.link else "")
            lines.append(f"- ({source}) {hit.text[:_MEMORY_CHARS]}")
    return "\n".join(lines)


def conversation(
    known: TaskContext,
    hits: Sequence[MemoryHit],
    settings: DefaultAgentSettings,
    *,
    latest: str | None = None,
) -> list[Message]:
    """The model's messages: who it is, the task, then the thread as turns. ``latest`` is a reply the
    thread does not show yet (a ClickUp comment whose mirror is still on its way)."""
    own = settings.posting_names
    messages: list[Message] = [
        {"role": "system", "content": system_prompt(settings)},
        {"role": "user", "content": task_brief(known, hits)},
    ]
    for message in replies(known):
        who = speaker(message, own)
        if not message.text.strip():
            continue
        if who is Speaker.AGENT:
            messages.append({"role": "assistant", "content": message.text})
        elif who is Speaker.PERSON:
            author = message.username or message.user or "someone"
            messages.append({"role": "user", "content": f"{author}: {message.text}"})
        else:
            messages.append(
                {"role": "user", "content": f"(notice from {message.username or 'Oblivion'}) {message.text}"}
            )
    if latest and latest.strip() and not any(latest.strip() in str(m["content"]) for m in messages[2:]):
        messages.append({"role": "user", "content": latest})
    if messages[-1]["role"] != "user":
        messages.append({"role": "user", "content": "Continue with the task from where the thread left it."})
    return messages
