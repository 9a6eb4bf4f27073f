"""Handing texts to the Memory Bank: ``rag-ingestion`` jobs, queued by whoever saw the text.

The task flow queues them after mirroring (a Slack message, an edit or a deletion; a ClickUp task or
comment) and the API after posting an agent's message, so embedding never delays a thread. A job
names its workgroup and project; the worker turns it into points (:mod:`.ingestion`).

Job ids are the source and its version, so a redelivered event is one job, and an edit is another.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from oblivion_nexus.services.memory.bank import MemoryText
from oblivion_nexus.stores.queue import WebhookQueue
from oblivion_nexus.stores.vectors import MemoryKind, MemorySource

REMEMBER = "remember"
FORGET = "forget"
CLICKUP_TASK = "clickup-task"
SUMMARIZE = "summarize"


def text_to_job(text: MemoryText) -> dict[str, Any]:
    data = dataclasses.asdict(text)
    data["kind"], data["source"] = text.kind.value, text.source.value
    return data


def text_from_job(data: dict[str, Any]) -> MemoryText:
    fields = {f.name for f in dataclasses.fields(MemoryText)}
    values = {k: v for k, v in data.items() if k in fields}
    values["kind"], values["source"] = MemoryKind(values["kind"]), MemorySource(values["source"])
    values["timestamp"] = float(values["timestamp"])
    return MemoryText(**values)


class MemoryHandover:
    """The producer of ``rag-ingestion``: what the flow and the API call."""

    def __init__(self, queue: WebhookQueue) -> None:
        self._queue = queue

    async def remember(self, workgroup: str, text: MemoryText, *, version: float | None) -> str:
        """Queue ``text`` (``version``: when it was written or edited; an older version than one
        already applied to its source is ignored, so a late original never overwrites an edit)."""
        data = {"workgroup": workgroup, "text": text_to_job(text), "version": version}
        return await self._queue.add(REMEMBER, f"{text.source_id}@{version}", data)

    async def forget(self, workgroup: str, project: str, source_id: str, *, version: float) -> str:
        """Queue the removal of a source (a deleted message); older versions of it stay forgotten."""
        data = {"workgroup": workgroup, "project": project, "source_id": source_id, "version": version}
        return await self._queue.add(FORGET, f"{source_id}@{version}@deleted", data)

    async def task_changed(self, workgroup: str, project: str, task_id: str, dedupe_key: str) -> str:
        """Queue a re-read of a ClickUp task's name and description (the worker fetches it, so the
        text stored is always the task as it is now, whatever order the events came in)."""
        data = {"workgroup": workgroup, "project": project, "task_id": task_id}
        return await self._queue.add(CLICKUP_TASK, f"{task_id}@{dedupe_key}", data)

    async def summarize(
        self,
        workgroup: str,
        project: str,
        team: str,
        channel: str,
        thread_ts: str,
        task_id: str | None,
        count: int,
    ) -> str:
        """Queue the summary of a thread that reached ``count`` replies (one job per count)."""
        data = {
            "workgroup": workgroup,
            "project": project,
            "team": team,
            "channel": channel,
            "thread_ts": thread_ts,
            "task_id": task_id,
        }
        return await self._queue.add(SUMMARIZE, f"{channel}-{thread_ts}@{count}", data)
