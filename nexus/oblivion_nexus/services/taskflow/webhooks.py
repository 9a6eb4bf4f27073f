"""Accepting webhooks: prove the sender, parse the body, queue the job durably, then say 2xx.

Nothing is answered 2xx before its job is in Redis; a refusal says which kind it is so the route can
answer the status that makes the sender do the right thing: 401 for a bad signature (nothing
queued), 400 for a malformed body, 503 when the queue is down or a setting is missing (retry later).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry.trace import SpanKind
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from oblivion_nexus.integrations.clickup_events import parse_clickup_webhook, peek_webhook_id
from oblivion_nexus.integrations.errors import MalformedPayload
from oblivion_nexus.integrations.slack_events import (
    SlackAppRateLimited,
    SlackUrlVerification,
    parse_slack_payload,
    slack_retry,
)
from oblivion_nexus.resources import Resources
from oblivion_nexus.services.taskflow.errors import FlowError, MissingSetting
from oblivion_nexus.services.taskflow.signatures import (
    SignatureError,
    verify_clickup_signature,
    verify_slack_signature,
)
from oblivion_nexus.stores import tables as t
from oblivion_nexus.stores.crypto import CryptoError, SealedValue
from oblivion_nexus.stores.queue import QueueUnavailable, WebhookQueue
from oblivion_nexus.tracing import current_carrier, is_tracing, task_span

logger = logging.getLogger(__name__)

CLICKUP = "clickup"
SLACK = "slack"


class IngestUnavailable(FlowError):
    """Something Nexus needs to accept webhooks (Redis, PostgreSQL, a setting) is missing right now."""


@dataclass(frozen=True, slots=True)
class Accepted:
    """A delivery that was queued (or found already queued); ``challenge`` answers Slack's handshake."""

    job_id: str | None = None
    challenge: str | None = None


def webhook_secret_name(webhook_id: str) -> str:
    """The name a ClickUp webhook's secret is sealed under (bound into the ciphertext)."""
    return f"clickup-webhook/{webhook_id}"


class WebhookSecretCache:
    """Recently used ClickUp webhook secrets, so a burst of deliveries costs one database read.

    An id Nexus does not know is remembered only briefly: its webhook may be being created right now.
    """

    KNOWN_SECONDS = 300.0
    UNKNOWN_SECONDS = 5.0
    MAX_ENTRIES = 10_000

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._entries: dict[str, tuple[float, str | None]] = {}

    def get(self, webhook_id: str) -> tuple[bool, str | None]:
        entry = self._entries.get(webhook_id)
        if entry is None or entry[0] < self._clock():
            return False, None
        return True, entry[1]

    def put(self, webhook_id: str, secret: str | None) -> None:
        if len(self._entries) >= self.MAX_ENTRIES:
            self._entries.clear()
        ttl = self.KNOWN_SECONDS if secret is not None else self.UNKNOWN_SECONDS
        self._entries[webhook_id] = (self._clock() + ttl, secret)


async def clickup_secret(
    resources: Resources, webhook_id: str | None, cache: WebhookSecretCache | None = None
) -> str | None:
    """The secret of the webhook Nexus created with that id, else ``OBLIVION_CLICKUP_WEBHOOK_SECRET``."""
    fallback = resources.settings.clickup.webhook_secret
    fallback_value = fallback.get_secret_value() if fallback is not None else None
    if webhook_id is None:
        return fallback_value
    if cache is not None:
        hit, secret = cache.get(webhook_id)
        if hit:
            return secret if secret is not None else fallback_value
    secret = await _stored_secret(resources, webhook_id)
    if cache is not None:
        cache.put(webhook_id, secret)
    return secret if secret is not None else fallback_value


async def _stored_secret(resources: Resources, webhook_id: str) -> str | None:
    if webhook_id:
        try:
            async with resources.sessionmaker() as session:
                row = (
                    await session.execute(
                        select(
                            t.ClickUpWebhook.workgroup,
                            t.ClickUpWebhook.secret_ciphertext,
                            t.ClickUpWebhook.secret_nonce,
                            t.ClickUpWebhook.secret_key_id,
                        ).where(t.ClickUpWebhook.webhook_id == webhook_id)
                    )
                ).first()
        except SQLAlchemyError as e:
            raise IngestUnavailable(f"cannot read ClickUp webhook secrets: {type(e).__name__}") from e
        if row is not None:
            sealed = SealedValue(ciphertext=row[1], nonce=row[2], key_id=row[3])
            try:
                name = webhook_secret_name(webhook_id)
                return resources.master_keys.open(sealed, workgroup=row[0], name=name)
            except CryptoError as e:
                logger.error("ClickUp webhook %s: its secret does not decrypt: %s", webhook_id, e)
    return None


def _queue(resources: Resources) -> WebhookQueue:
    if resources.webhook_queue is None:
        raise IngestUnavailable("the webhook queue is not configured")
    return resources.webhook_queue


async def _enqueue(resources: Resources, kind: str, dedupe_key: str, raw_body: bytes) -> str:
    """Queue a delivery durably, with the trace context of the span accepting it (if traced)."""
    data: dict[str, Any] = {"body": raw_body.decode("utf-8", "replace"), "at": time.time()}
    carrier = current_carrier() if is_tracing(resources.tracer) else None
    if carrier:
        data["trace"] = carrier
    try:
        return await _queue(resources).add(kind, dedupe_key, data)
    except QueueUnavailable as e:
        raise IngestUnavailable(str(e)) from e


async def accept_clickup(
    resources: Resources,
    raw_body: bytes,
    signature: str | None,
    secrets: WebhookSecretCache | None = None,
) -> Accepted:
    """Verify, parse and queue one ClickUp delivery.

    Raises SignatureError, MalformedPayload or IngestUnavailable.
    """
    secret = await clickup_secret(resources, peek_webhook_id(raw_body), secrets)
    verify_clickup_signature(raw_body, signature, secret or "")
    event = parse_clickup_webhook(raw_body)
    attributes = {"oblivion.clickup.event": event.event, "oblivion.task_id": event.task_id}
    with task_span(resources.tracer, f"clickup {event.event}", kind=SpanKind.SERVER, attributes=attributes):
        job_id = await _enqueue(resources, CLICKUP, event.dedupe_key, raw_body)
    logger.info("ClickUp %s for task %s queued as %s", event.event, event.task_id, job_id)
    return Accepted(job_id=job_id)


async def accept_slack(
    resources: Resources, raw_body: bytes, headers: Mapping[str, str], now: float | None = None
) -> Accepted:
    """Verify, parse and queue one Slack delivery (answering ``url_verification`` directly)."""
    secret = resources.settings.slack.signing_secret
    if secret is None:
        raise MissingSetting("OBLIVION_SLACK_SIGNING_SECRET", "verify Slack deliveries")
    verify_slack_signature(
        raw_body,
        headers.get("x-slack-request-timestamp"),
        headers.get("x-slack-signature"),
        secret.get_secret_value(),
        time.time() if now is None else now,
    )
    payload = parse_slack_payload(raw_body)
    if isinstance(payload, SlackUrlVerification):
        return Accepted(challenge=payload.challenge)
    if isinstance(payload, SlackAppRateLimited):
        logger.warning("Slack says this app is rate limited (minute %s)", payload.minute_rate_limited)
        return Accepted()
    retry = slack_retry(headers)
    if retry is not None:
        logger.info("Slack retry %d of %s (%s)", retry.number, payload.event_id, retry.reason)
    with task_span(resources.tracer, f"slack {payload.event.type}", kind=SpanKind.SERVER):
        job_id = await _enqueue(resources, SLACK, payload.dedupe_key, raw_body)
    logger.info("Slack %s %s queued as %s", payload.event.type, payload.event_id, job_id)
    return Accepted(job_id=job_id)


__all__ = [
    "Accepted",
    "IngestUnavailable",
    "MalformedPayload",
    "SignatureError",
    "WebhookSecretCache",
    "accept_clickup",
    "accept_slack",
    "clickup_secret",
    "webhook_secret_name",
]
