"""One access log line per HTTP request, written once the response has gone out, with its duration.

uvicorn's own access log (turned off by ``oblivion nexus serve``) writes its line when the response
starts, so every answer and every stream's first event waited for the log record: its formatting,
its redaction and the write. Here the line is written after the last byte, and says how long the
request took, which uvicorn's does not:

    127.0.0.1:50412 - "POST /v1/llm/chat/completions HTTP/1.1" 200 1.84 ms

It goes to the ``oblivion_nexus.access`` logger at INFO (so ``OBLIVION_LOG_LEVEL=WARNING`` drops it)
through the same redacting handler as every record: a token in a query string never shows. A
request whose handler failed before answering is logged as 500, as the server answers it; one whose
client left before any answer, as 499 (the client closed the request).
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("oblivion_nexus.access")

CLIENT_CLOSED = 499


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not logger.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = CLIENT_CLOSED

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        except Exception:
            if status == CLIENT_CLOSED:
                status = 500
            raise
        finally:
            client = scope.get("client")
            target = scope.get("root_path", "") + scope["path"]
            if query := scope.get("query_string"):
                target += "?" + query.decode("latin-1")
            logger.info(
                '%s - "%s %s HTTP/%s" %d %.2f ms',
                f"{client[0]}:{client[1]}" if client else "-",
                scope["method"],
                target,
                scope["http_version"],
                status,
                (time.perf_counter() - started) * 1000,
            )
