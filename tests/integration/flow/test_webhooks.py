"""POST /webhooks/clickup and /webhooks/slack against a real Nexus, Redis and PostgreSQL."""

from __future__ import annotations

import json
import time

import redis.asyncio as aioredis

from oblivion_nexus.services.taskflow.signatures import sign_clickup_body
from oblivion_nexus.stores.queue import QUEUE_NAME, bull_prefix
from tests.fakes import clickup_payloads as shapes
from tests.fakes import slack_events
from tests.fakes.clickup_delivery import send_webhook
from tests.fakes.slack_events import SlackEventSender
from tests.support.taskflow import LIST_ID, FlowStack


async def queued_jobs(stack: FlowStack) -> set[str]:
    """Ids of every job in the webhook queue, whatever its state."""
    client = aioredis.Redis.from_url(stack.settings.redis.url, decode_responses=True)
    try:
        base = f"{bull_prefix(stack.settings.redis.prefix)}:{QUEUE_NAME}:"
        ids: set[str] = set()
        async for key in client.scan_iter(match=base + "*"):
            rest = key.removeprefix(base)
            internal = ":" in rest or rest in {"id", "meta", "events", "stalled-check", "marker"}
            if not internal and await client.type(key) == "hash":
                ids.add(rest)
        return ids
    finally:
        await client.aclose()


async def test_signed_clickup_delivery_is_queued_once_however_often_it_arrives(stack: FlowStack) -> None:
    items = shapes.creation_history_items(LIST_ID, "to do", shapes.user(184, "Sam"))
    for _ in range(5):
        delivery = await send_webhook(
            stack.clickup_url,
            "taskCreated",
            secret=stack.clickup_secret,
            task_id="86abc",
            list_id=LIST_ID,
            history_items=items,
        )
        assert delivery.statuses == [200]
    jobs = await queued_jobs(stack)
    assert len(jobs) == 1, jobs


async def test_clickup_status_change_reported_twice_is_one_job(stack: FlowStack) -> None:
    task = stack.clickup.add_task(list_id=LIST_ID, name="Fix login")
    item = shapes.status_history_item(LIST_ID, "to do", "in progress", shapes.user(184, "Sam"))
    for event in ("taskStatusUpdated", "taskUpdated"):
        delivery = await send_webhook(
            stack.clickup_url,
            event,
            secret=stack.clickup_secret,
            task_id=task["id"],
            list_id=LIST_ID,
            history_items=[item],
        )
        assert delivery.delivered
    assert len(await queued_jobs(stack)) == 1


async def test_clickup_delivery_with_a_wrong_signature_is_refused_and_nothing_queued(
    stack: FlowStack,
) -> None:
    delivery = await send_webhook(
        stack.clickup_url, "taskCreated", secret="not-the-secret", task_id="86abc", list_id=LIST_ID
    )
    assert delivery.statuses == [401]  # ClickUp stops at once on 401
    body = json.dumps({"event": "taskCreated", "task_id": "1", "webhook_id": "w"}).encode()
    response = await stack.http.post(stack.clickup_url, content=body)  # no signature at all
    assert response.status_code == 401
    assert await queued_jobs(stack) == set()


async def test_malformed_clickup_bodies_are_refused_with_400(stack: FlowStack) -> None:
    for body in (b"not json", b"[1,2]", json.dumps({"event": "taskCreated"}).encode(), b""):
        headers = {"X-Signature": sign_clickup_body(body, stack.clickup_secret)}
        response = await stack.http.post(stack.clickup_url, content=body, headers=headers)
        assert response.status_code == 400, (body, response.text)
    assert await queued_jobs(stack) == set()


async def test_oversized_bodies_are_refused_with_413(stack: FlowStack) -> None:
    body = b'{"pad": "' + b"x" * (stack.settings.http.webhook_max_body_bytes + 1) + b'"}'
    headers = {"X-Signature": sign_clickup_body(body, stack.clickup_secret)}
    assert (await stack.http.post(stack.clickup_url, content=body, headers=headers)).status_code == 413
    slack_headers = slack_events.signed_headers(body, stack.signing_secret)
    response = await stack.http.post(stack.slack_url, content=body, headers=slack_headers)
    assert response.status_code == 413
    assert response.headers["x-slack-no-retry"] == "1"


async def test_slack_url_verification_is_answered_with_the_challenge(stack: FlowStack) -> None:
    sender = SlackEventSender(stack.slack_url, stack.signing_secret)
    delivery = await sender.send(slack_events.url_verification("abc123"))
    assert delivery.delivered
    assert json.loads(delivery.response_body) == {"challenge": "abc123"}


async def test_slack_event_and_its_retries_are_one_job(stack: FlowStack) -> None:
    payload = slack_events.event_callback(slack_events.message_event(stack.channel_id, "hello"))
    sender = SlackEventSender(stack.slack_url, stack.signing_secret)
    first = await sender.attempt(payload)
    assert first.status == 200
    for number in (1, 2, 3):
        retry = await sender.attempt(payload, retry_num=number, retry_reason="http_timeout")
        assert retry.status == 200
    assert len(await queued_jobs(stack)) == 1


async def test_stale_or_badly_signed_slack_deliveries_are_refused(stack: FlowStack) -> None:
    payload = slack_events.event_callback(slack_events.message_event(stack.channel_id, "hello"))
    stale = await SlackEventSender(stack.slack_url, stack.signing_secret).attempt(
        payload, timestamp=int(time.time()) - 301
    )
    assert stale.status == 401
    forged = await SlackEventSender(stack.slack_url, "wrong-secret-123").attempt(payload)
    assert forged.status == 401
    assert await queued_jobs(stack) == set()
