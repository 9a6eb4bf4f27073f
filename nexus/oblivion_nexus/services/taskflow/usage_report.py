"""The model usage of a task, told on the ClickUp task when it reaches DONE: where people look.

One comment per finished piece of work: keyed by the task and the number of calls counted, so a
redelivered webhook or an agent's repeated DONE comments once, and a task reopened and finished
again after more calls gets a new total. A failure to comment is logged, never a failure of the
state change that triggered it.
"""

from __future__ import annotations

import logging

from oblivion_nexus.errors import NexusError
from oblivion_nexus.integrations.errors import IntegrationError
from oblivion_nexus.resources import Resources
from oblivion_nexus.services.models import spending
from oblivion_nexus.services.taskflow import ledger
from oblivion_nexus.services.taskflow.mirror import comment_on_task

logger = logging.getLogger(__name__)


def usage_text(spent: spending.Spent) -> str:
    calls = "1 model call" if spent.calls == 1 else f"{spent.calls} model calls"
    text = (
        f"Model usage on this task: {spent.total_tokens:,} tokens ({spent.prompt_tokens:,} prompt, "
        f"{spent.completion_tokens:,} completion) in {calls}, US$ {spent.cost_usd:.4f}."
    )
    if spent.unpriced_calls:
        text += (
            f" {spent.unpriced_calls} of the calls used a model without a price and add nothing to the cost."
        )
    return text


async def report_task_usage(resources: Resources, workgroup: str, task_id: str) -> None:
    """Comment the task's model usage on it (nothing when no call named the task)."""
    async with resources.sessionmaker() as session:
        spent = await spending.task_spent(session, workgroup, task_id)
    if spent.calls == 0:
        return
    key = ledger.intent_key(f"model-usage:{task_id}:{spent.calls}")
    try:
        await comment_on_task(resources, task_id, key, usage_text(spent))
    except (IntegrationError, NexusError) as e:
        logger.warning("could not comment the model usage on task %s: %s", task_id, e)
