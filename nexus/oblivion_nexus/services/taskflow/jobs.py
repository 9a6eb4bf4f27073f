"""One queued webhook job → the flow step it calls for, with failures sorted into what to do next.

A vendor rate limit delays the job until the vendor's ``Retry-After`` (not counted as a failure); a
vendor or database outage raises, so BullMQ retries with backoff; a refusal that no retry can fix
(a channel that is gone, a task that no longer exists) is logged and the job ends.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from opentelemetry.trace import SpanKind
from sqlalchemy import update

from oblivion_nexus.integrations.clickup import ClickUpApiError, ClickUpAuthError, ClickUpRateLimited
from oblivion_nexus.integrations.clickup_events import ClickUpWebhookEvent, parse_clickup_webhook
from oblivion_nexus.integrations.errors import MalformedPayload
from oblivion_nexus.integrations.slack import SlackApiError, SlackRateLimited
from oblivion_nexus.integrations.slack_events import SlackEventCallback, parse_slack_payload
from oblivion_nexus.services.taskflow import comments, intake, lifecycle, mentions, remembering, replies
from oblivion_nexus.services.taskflow import tracked_tasks as tasks
from oblivion_nexus.services.taskflow.context import FlowContext
from oblivion_nexus.services.taskflow.webhooks import CLICKUP, SLACK
from oblivion_nexus.stores import tables as t
from oblivion_nexus.stores.queue import Delayed
from oblivion_nexus.tracing import task_span

logger = logging.getLogger(__name__)

# History fields of a taskUpdated that can change which agents a task summons.
_SUMMONING_FIELDS = {"name", "content", "assignee_add", "tag", "tag_added"}
# Slack errors that no retry fixes: the job ends with one log line.
_PERMANENT_SLACK_ERRORS = {
    "channel_not_found",
    "is_archived",
    "not_in_channel",
    "thread_not_found",
    "message_not_found",
    "msg_too_long",
    "invalid_blocks",
}


async def handle_job(flow: FlowContext, name: str, data: dict[str, Any]) -> None:
    """Run one job of ``webhook-processing``; raises to retry, ``Delayed`` to wait."""
    body = data.get("body")
    if not isinstance(body, str):
        logger.error("job %r has no body; dropped", name)
        return
    carried = data.get("trace")
    parent = carried if isinstance(carried, dict) else {}
    # The accepting webhook's trace continues here; what the flow does for it are child spans.
    with task_span(flow.resources.tracer, f"process {name} webhook", kind=SpanKind.CONSUMER, parent=parent):
        await _handle(flow, name, body)


async def _handle(flow: FlowContext, name: str, body: str) -> None:
    try:
        if name == CLICKUP:
            await _clickup(flow, parse_clickup_webhook(body))
        elif name == SLACK:
            payload = parse_slack_payload(body)
            if isinstance(payload, SlackEventCallback):
                await _slack(flow, payload)
        else:
            logger.error("job of unknown kind %r dropped", name)
    except MalformedPayload as e:
        logger.error("queued %s job is malformed and is dropped: %s", name, e)
    except (SlackRateLimited, ClickUpRateLimited) as e:
        raise Delayed(e.retry_after, str(e)) from e
    except SlackApiError as e:
        if e.error not in _PERMANENT_SLACK_ERRORS:
            raise
        logger.error("%s job gave up: %s", name, e)
    except ClickUpApiError as e:
        if isinstance(e, ClickUpAuthError) or e.status >= 500 or e.status == 429:
            raise
        logger.error("%s job gave up: %s", name, e)


async def _clickup(flow: FlowContext, event: ClickUpWebhookEvent) -> None:
    await _note_event(flow, event.webhook_id)
    await _take(flow, event)
    await remembering.on_clickup_event(flow, event)


async def _take(flow: FlowContext, event: ClickUpWebhookEvent) -> None:
    kind = event.event
    if kind == "taskDeleted":
        await lifecycle.on_deleted(flow, event.task_id)
        return
    if kind in ("taskCommentPosted", "taskCommentUpdated"):
        await comments.on_comment(flow, event)
        return
    mapping = await tasks.mapping_for_task(flow.resources, event.task_id)
    if mapping is not None and not mapping.closed:
        if event.status_change is not None:
            await lifecycle.on_status(flow, event, mapping)
        if event.description_text is not None:
            await lifecycle.on_description(flow, event, mapping)
    fields = {item.field for item in event.history_items}
    if kind == "taskCreated" or (kind != "taskStatusUpdated" and fields & _SUMMONING_FIELDS):
        try:
            await intake.fetch_and_take(flow, event.task_id, event.list_id)
        except ClickUpApiError as e:
            if e.status != 404:
                raise
            logger.info("task %s is gone from ClickUp; nothing to take", event.task_id)


async def _slack(flow: FlowContext, payload: SlackEventCallback) -> None:
    event = payload.event
    if event.type == "message":
        await replies.on_message(flow, event)
    elif event.type == "app_mention":
        await mentions.on_app_mention(flow, event)
    await remembering.on_slack_message(flow, payload)


async def _note_event(flow: FlowContext, webhook_id: str) -> None:
    """Remember when a webhook last delivered, so a catch-up after an outage knows where to start.

    Written at most every few seconds per webhook and worker: every delivery of a busy list would
    otherwise update the same row, one after another. A catch-up that starts a few seconds early only
    re-reads tasks it already has, which is harmless.
    """
    if not flow.note_webhook_event(webhook_id):
        return
    async with flow.resources.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(
            update(t.ClickUpWebhook)
            .where(t.ClickUpWebhook.webhook_id == webhook_id)
            .values(last_event_at=datetime.now(UTC))
        )
