"""``POST /webhooks/clickup`` and ``POST /webhooks/slack``: the doors through which the outside world
reaches Nexus, and therefore the routes that must never answer 500.

Statuses tell the sender what to do: 200 only once the job is durably queued; 401 for a bad
signature (nothing is queued); 400 for a malformed body and 413 for an oversized one (Slack is told
``X-Slack-No-Retry: 1``: a retry would not help); 503 when Redis, PostgreSQL or a setting is missing,
so the sender retries. Each error carries its answer (:mod:`.api.errors` writes it); only the
door's own rule is here: any unexpected error becomes a 503 and one log line, never a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.requests import ClientDisconnect

from oblivion_nexus.api.deps import get_resources
from oblivion_nexus.api.errors import error_response
from oblivion_nexus.errors import ServiceError
from oblivion_nexus.integrations.errors import MalformedPayload
from oblivion_nexus.services.taskflow.webhooks import (
    Accepted,
    WebhookSecretCache,
    accept_clickup,
    accept_slack,
)

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


class BodyTooLarge(ServiceError):
    """The request body is over ``OBLIVION_WEBHOOK_MAX_BODY_BYTES``."""

    status = 413

    def __init__(self) -> None:
        super().__init__("body too large")


class DoorUnavailable(ServiceError):
    """Something no one foresaw failed while accepting a delivery: the sender is told to retry."""

    status = 503

    def __init__(self) -> None:
        super().__init__("temporarily unavailable")


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _refusal(error: ServiceError, *, slack: bool) -> Response:
    # Slack retries a failed delivery three times unless told not to; for a malformed or oversized
    # body a retry would fail the same way.
    no_retry = {"X-Slack-No-Retry": "1"} if slack and error.status in (400, 413) else None
    return error_response(error, no_retry)


def _unexpected(vendor: str, e: Exception, *, slack: bool) -> Response:
    # Never a 500 at the door: the sender retries a 503.
    logger.error("%s webhook failed unexpectedly (%s); answered 503", vendor, type(e).__name__, exc_info=e)
    return _refusal(DoorUnavailable(), slack=slack)


async def _guarded(request: Request, vendor: str, accept: Callable[[bytes], Awaitable[Accepted]]) -> Response:
    slack = vendor == "slack"
    try:
        limit = get_resources(request).settings.http.webhook_max_body_bytes
        body = await _read_body(request, limit)
        accepted = await accept(body)
    except ClientDisconnect:
        return _refusal(MalformedPayload(vendor, "client disconnected"), slack=False)
    except ServiceError as e:
        if e.status == 500:
            return _unexpected(vendor, e, slack=slack)
        if e.status > 500:
            logger.error("%s webhook not accepted, the sender will retry: %s", vendor, e)
        else:
            logger.warning("%s webhook refused: %s", vendor, e)
        return _refusal(e, slack=slack)
    except Exception as e:
        return _unexpected(vendor, e, slack=slack)
    if accepted.challenge is not None:
        return JSONResponse({"challenge": accepted.challenge})
    return JSONResponse({"ok": True})


def _secret_cache(request: Request) -> WebhookSecretCache:
    """This app's cache of ClickUp webhook secrets (made on first use; one per app, never global)."""
    cache: WebhookSecretCache | None = getattr(request.app.state, "clickup_webhook_secrets", None)
    if cache is None:
        cache = WebhookSecretCache()
        request.app.state.clickup_webhook_secrets = cache
    return cache


@router.post("/clickup", summary="ClickUp webhook deliveries (X-Signature)")
async def clickup_webhook(request: Request) -> Response:
    async def accept(body: bytes) -> Accepted:
        signature = request.headers.get("x-signature")
        return await accept_clickup(get_resources(request), body, signature, _secret_cache(request))

    return await _guarded(request, "clickup", accept)


@router.post("/slack", summary="Slack Events API deliveries (v0 signature)")
async def slack_webhook(request: Request) -> Response:
    async def accept(body: bytes) -> Accepted:
        return await accept_slack(get_resources(request), body, request.headers)

    return await _guarded(request, "slack", accept)
