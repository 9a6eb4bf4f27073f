"""A request body limit per route family, enforced while the body is read and before any route runs.

Routes authenticate after FastAPI has read the body, so without this a caller with no credentials at
all could make Nexus hold hundreds of megabytes per request. This middleware is pure ASGI: it answers
413 at once for a ``Content-Length`` over the limit (the server then discards the rest unread), and
otherwise counts the ``http.request`` chunks as the route pulls them, answering 413 and closing the
connection the moment the count passes the limit. Nothing is buffered here, so memory stays flat
however large the body a client sends.

Once the 413 is sent, the route sees the client as disconnected and whatever it answers is dropped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BodyLimits:
    """Largest accepted body in bytes of each route family."""

    webhooks: int
    registry: int
    token: int
    agents: int
    models: int

    def for_path(self, path: str) -> tuple[str, int]:
        """The family a path belongs to and its limit; agents' routes are the default (the smallest
        trust: every other path is either an agent route or takes no body)."""
        if path.startswith("/webhooks/"):
            return "webhooks", self.webhooks
        if path.startswith("/internal/"):
            return "registry", self.registry
        if path.startswith("/oauth/"):
            return "token", self.token
        if path.startswith("/v1/llm/"):
            return "models", self.models
        return "agents", self.agents


_TOO_LARGE = b'{"detail":"request body too large"}'


async def _send_413(send: Send, limit: int, *, close: bool) -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(_TOO_LARGE)).encode()),
        (b"x-oblivion-max-body-bytes", str(limit).encode()),
        # Slack retries a 4xx delivery unless told not to; a larger copy would not fit either.
        (b"x-slack-no-retry", b"1"),
    ]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": _TOO_LARGE})


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


class BodyLimitMiddleware:
    """Wraps the app; WebSocket and lifespan scopes pass through untouched."""

    def __init__(self, app: ASGIApp, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        family, limit = self.limits.for_path(scope.get("path", ""))
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            logger.warning("refused a %d-byte %s body (limit %d): 413", declared, family, limit)
            # The connection stays open: the server discards the declared rest without keeping it,
            # and a client that writes its whole body before reading still gets to read the 413
            # (a closed connection would reset under its write and lose the answer).
            await _send_413(send, limit, close=False)
            return

        received = 0
        refused = False
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    if not response_started:
                        logger.warning("refused a %s body over %d bytes while reading: 413", family, limit)
                        # A body without a length can be endless: this connection ends here.
                        await _send_413(send, limit, close=True)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if refused:
                return  # the 413 already went out; the route's own answer is dropped
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not refused:
                raise
            # A route that fails on the disconnect it was told about has nothing left to say.
