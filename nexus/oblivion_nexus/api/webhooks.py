"""``POST /webhooks/clickup`` and ``POST /webhooks/slack``: the doors through which the outside world
reaches Nexus, and therefore the routes that must never answer 500.

Statuses tell the sender what to do: 200 only once the job is durably queued; 401 for a bad
signature (nothing is queued); 400 for a malformed body and 413 for an oversized one (Slack is told
``X-Slack-No-Retry: 1``: a retry would not help); 503 when Redis, PostgreSQL or a setting is missing,
so the sender retries. Any unexpected error becomes a 503 and one log line.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.requests import ClientDisconnect

from oblivion_nexus.api.deps import get_resources
from oblivion_nexus.integrations.errors import MalformedPayload
from oblivion_nexus.services.taskflow.errors import FlowError
from oblivion_nexus.services.taskflow.signatures import SignatureError
from oblivion_nexus.services.taskflow.webhooks import (
    Accepted,
    WebhookSecretCache,
    accept_clickup,
    accept_slack,
)

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


class BodyTooLarge(Exception):
    """The request body is over ``OBLIVION_WEBHOOK_MAX_BODY_BYTES``."""


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


def _answer(status: int, detail: str, *, slack: bool = False) -> JSONResponse:
    headers = {"X-Slack-No-Retry": "1"} if slack and status in (400, 413) else None
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


async def _guarded(request: Request, vendor: str, accept: Callable[[bytes], Awaitable[Accepted]]) -> Response:
    slack = vendor == "slack"
    try:
        limit = get_resources(request).settings.http.webhook_max_body_bytes
        body = await _read_body(request, limit)
        accepted = await accept(body)
    except BodyTooLarge:
        logger.warning("%s webhook refused: body larger than the limit", vendor)
        return _answer(413, "body too large", slack=slack)
    except SignatureError as e:
        logger.warning("%s webhook refused: %s", vendor, e)
        return _answer(401, f"signature refused ({e.reason})")
    except MalformedPayload as e:
        logger.warning("%s webhook refused: %s", vendor, e)
        return _answer(400, e.reason, slack=slack)
    except FlowError as e:
        logger.error("%s webhook not accepted, the sender will retry: %s", vendor, e)
        return _answer(503, "temporarily unavailable")
    except ClientDisconnect:
        return _answer(400, "client disconnected")
    except Exception as e:  # never a 500 at the door: the sender retries a 503
        logger.exception("%s webhook failed unexpectedly (%s); answered 503", vendor, type(e).__name__)
        return _answer(503, "temporarily unavailable")
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


def install_webhook_error_handler(app: FastAPI) -> None:
    """Answer 503 (and log) for a task-flow error no route caught — a missing Slack or ClickUp
    setting, an unreachable queue — instead of a 500: the caller may retry once it is fixed."""

    async def handle(request: Request, exc: Exception) -> Response:
        logger.error("%s %s failed: %s", request.method, request.url.path, exc)
        return _answer(503, "temporarily unavailable")

    app.add_exception_handler(FlowError, handle)
