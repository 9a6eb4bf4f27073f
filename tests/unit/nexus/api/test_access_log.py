"""The access log line: written after the response's last byte, with the status and the duration."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest
from starlette.types import Message, Receive, Scope, Send

from oblivion_nexus.api.access_log import AccessLogMiddleware
from oblivion_nexus.observability import AccessTokenRedactor

Events = list[str]


@pytest.fixture
def events() -> Iterator[Events]:
    """What happened, in order: ``start 200``, ``body``, and ``log <line>`` for each access record."""
    happened: Events = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            happened.append("log " + record.getMessage())

    access = logging.getLogger("oblivion_nexus.access")
    handler = Collect()
    handler.addFilter(AccessTokenRedactor())
    level = access.level
    access.setLevel(logging.INFO)
    access.addHandler(handler)
    try:
        yield happened
    finally:
        access.removeHandler(handler)
        access.setLevel(level)


def scope(path: str = "/v1/llm/chat/completions", query: bytes = b"") -> Scope:
    return {"type": "http", "method": "POST", "path": path, "root_path": "", "query_string": query,
            "http_version": "1.1", "client": ("10.1.2.3", 50412), "headers": []}  # fmt: skip


async def serve(app: AccessLogMiddleware, events: Events, request: Scope) -> None:
    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            events.append(f"start {message['status']}")
        elif message.get("body"):
            events.append("body")

    await app(request, receive, send)


async def streaming(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    for chunk in (b"data: 1\n\n", b"data: 2\n\n"):
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def test_the_line_comes_after_the_last_byte_with_status_and_duration(events: Events) -> None:
    await serve(AccessLogMiddleware(streaming), events, scope())

    assert events[:3] == ["start 200", "body", "body"]
    assert len(events) == 4
    line = events[3]
    assert line.startswith('log 10.1.2.3:50412 - "POST /v1/llm/chat/completions HTTP/1.1" 200 ')
    assert line.endswith(" ms")
    assert float(line.split()[-2]) >= 0


async def test_a_token_in_the_query_string_is_redacted(events: Events) -> None:
    await serve(AccessLogMiddleware(streaming), events, scope("/v1/agents/connect", b"access_token=opaque-1"))

    assert '"POST /v1/agents/connect?access_token=[REDACTED] HTTP/1.1" 200' in events[-1]
    assert "opaque-1" not in " ".join(events)


async def test_a_handler_that_fails_before_answering_is_logged_as_500(events: Events) -> None:
    async def failing(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await serve(AccessLogMiddleware(failing), events, scope())
    assert '" 500 ' in events[-1].replace("HTTP/1.1", "")


async def test_a_request_cancelled_before_any_answer_is_logged_as_499(events: Events) -> None:
    async def waiting(scope: Scope, receive: Receive, send: Send) -> None:
        await asyncio.sleep(60)

    task = asyncio.create_task(serve(AccessLogMiddleware(waiting), events, scope()))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert events[-1].split()[-3] == "499"


async def test_a_level_above_info_logs_nothing(events: Events) -> None:
    logging.getLogger("oblivion_nexus.access").setLevel(logging.WARNING)
    await serve(AccessLogMiddleware(streaming), events, scope())
    assert events == ["start 200", "body", "body"]
