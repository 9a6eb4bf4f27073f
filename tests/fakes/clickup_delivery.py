"""ClickUp's webhook deliveries: a fixture-shaped event, compact JSON, ``X-Signature``, retries.

ClickUp counts a delivery as failed without a 2xx within 7 s, tries each event five times, and stops
at once on 401 or 410. The fake ClickUp uses these functions for its own webhooks; tests can also
send an event to any URL with :func:`send_webhook`, without a fake server.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import httpx

from oblivion_nexus.services.taskflow.signatures import sign_clickup_body
from tests.fakes import clickup_payloads as shapes

DELIVERY_TIMEOUT = 7.0  # ClickUp gives an endpoint 7 s before counting a delivery as failed
MAX_ATTEMPTS = 5  # ... and tries each event five times before dropping it


@dataclass
class WebhookDelivery:
    """What happened when the fake delivered one event: one entry per attempt (None = no answer)."""

    webhook_id: str
    event: str
    body: bytes
    statuses: list[int | None] = field(default_factory=list)

    @property
    def delivered(self) -> bool:
        return bool(self.statuses) and self.statuses[-1] is not None and 200 <= self.statuses[-1] < 300


async def deliver_with_retries(
    endpoint: str,
    delivery: WebhookDelivery,
    secret: str,
    *,
    http: httpx.AsyncClient | None,
    retry_delay: float,
    max_attempts: int,
) -> None:
    for attempt in range(max_attempts):
        status = await deliver(endpoint, delivery.body, secret, http=http)
        delivery.statuses.append(status)
        if delivery.delivered or status in (401, 410):
            return
        if attempt + 1 < max_attempts and retry_delay:
            await asyncio.sleep(retry_delay)


def _history_for(
    event: str, *, task_id: str, list_id: str, author: dict[str, Any]
) -> list[dict[str, Any]] | None:
    """Fixture-shaped history items of ``event`` (None for ``taskDeleted``, which has none)."""
    if event == "taskCreated":
        return shapes.creation_history_items(list_id, "to do", author)
    if event in ("taskStatusUpdated", "taskUpdated"):
        return [shapes.status_history_item(list_id, "to do", "in progress", author)]
    if event == "taskCommentPosted":
        return [shapes.comment_history_item(list_id, task_id, shapes.next_history_id(), "a comment", author)]
    if event == "taskAssigneeUpdated":
        return [shapes.assignee_history_item(list_id, shapes.user(184, "Sam"), author)]
    return None


async def send_webhook(
    target_url: str,
    event: str,
    *,
    secret: str,
    task_id: str,
    webhook_id: str = "7fa3ec74-69a8-4530-a251-8a13730bd204",
    list_id: str = "162641062",
    history_items: list[dict[str, Any]] | None = None,
    author: dict[str, Any] | None = None,
    http: httpx.AsyncClient | None = None,
    max_attempts: int = MAX_ATTEMPTS,
) -> WebhookDelivery:
    """Sign and POST a ClickUp-shaped ``event`` to any URL, retrying like ClickUp (no fake needed).

    Without ``history_items`` the event gets typical ones (a creation, a status change, a comment…).
    """
    items = history_items
    if items is None:
        items = _history_for(
            event, task_id=task_id, list_id=list_id, author=author or dict(shapes.DEFAULT_USER)
        )
    payload = shapes.webhook_payload(event, task_id=task_id, webhook_id=webhook_id, history_items=items)
    delivery = WebhookDelivery(webhook_id, event, shapes.compact_json(payload))
    await deliver_with_retries(
        target_url, delivery, secret, http=http, retry_delay=0.0, max_attempts=max_attempts
    )
    return delivery


async def deliver(
    endpoint: str, body: bytes, secret: str, *, http: httpx.AsyncClient | None = None
) -> int | None:
    """One ClickUp-style delivery attempt: POST ``body`` with its ``X-Signature``; the status or None."""
    headers = {"Content-Type": "application/json", "X-Signature": sign_clickup_body(body, secret)}
    client = http or httpx.AsyncClient(timeout=DELIVERY_TIMEOUT)
    try:
        response = await client.post(endpoint, content=body, headers=headers, timeout=DELIVERY_TIMEOUT)
        return response.status_code
    except httpx.HTTPError:
        return None
    finally:
        if http is None:
            await client.aclose()
