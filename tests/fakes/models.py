"""Fake model APIs on a loopback port: OpenAI's Chat Completions and Anthropic's Messages.

Both play a script of turns a test plans (`say`, `call_tool`, `fail`, `rate_limit`), so a model
conversation is deterministic: text, tool calls, JSON mode, streaming as server-sent events (with a
final usage chunk when `stream_options.include_usage` asks for it, as OpenAI does; Anthropic's
`message_start`/`content_block_*`/`message_delta` events with their usage), the vendors' error bodies,
and 429s with `retry-after`. Token counts are a deterministic function of the text (words plus a
few per message), so a test can check that what Nexus counts equals what the upstream reported.
With no turn planned, the model answers "ok". Every request is recorded.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.support.servers import LoopbackServer


def count_tokens(value: Any) -> int:
    """The fake's tokenizer: one token per whitespace-separated word of every string inside."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, dict):
        return sum(count_tokens(v) for v in value.values())
    if isinstance(value, list):
        return sum(count_tokens(v) for v in value)
    return 0


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Turn:
    text: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    status: int = 200
    error_type: str = ""
    message: str = ""
    retry_after: float | None = None
    delay: float = 0.0  # seconds before the first byte, e.g. to measure time to first token
    hold: threading.Event | None = None  # the answer waits until the test sets it (at most a minute)


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class Script:
    turns: list[Turn] = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next(self) -> Turn:
        with self.lock:
            return self.turns.pop(0) if self.turns else Turn(text="ok")


class FakeModels:
    """Both fake APIs on one port: `/v1/chat/completions` (OpenAI) and `/v1/messages` (Anthropic)."""

    def __init__(self, *, api_key: str = "sk-fake-model-key", host: str = "127.0.0.1", port: int = 0) -> None:
        self.api_key = api_key
        self.script = Script()
        self._ids = itertools.count(1)
        routes = [
            Route("/v1/chat/completions", self._openai, methods=["POST"]),
            Route("/v1/messages", self._anthropic, methods=["POST"]),
        ]
        self._server = LoopbackServer(Starlette(routes=routes), host=host, port=port)

    @property
    def url(self) -> str:
        return self._server.base_url

    def start(self) -> FakeModels:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> FakeModels:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # The script

    def say(self, text: str, *, delay: float = 0.0, hold: threading.Event | None = None) -> None:
        self._plan(Turn(text=text, delay=delay, hold=hold))

    def call_tool(self, name: str, arguments: dict[str, Any], *, text: str | None = None) -> None:
        self._plan(Turn(text=text, tool_calls=(ToolCall(name, arguments),)))

    def fail(self, status: int, error_type: str, message: str) -> None:
        self._plan(Turn(status=status, error_type=error_type, message=message))

    def rate_limit(self, retry_after: float = 2) -> None:
        self._plan(
            Turn(
                status=429,
                error_type="rate_limit_exceeded",
                message="Rate limit reached",
                retry_after=retry_after,
            )
        )

    def _plan(self, turn: Turn) -> None:
        with self.script.lock:
            self.script.turns.append(turn)

    @property
    def requests(self) -> list[Recorded]:
        with self.script.lock:
            return list(self.script.requests)

    # Shared

    async def _read(self, request: Request) -> dict[str, Any] | None:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return None
        if not isinstance(body, dict):
            return None
        with self.script.lock:
            self.script.requests.append(Recorded(request.url.path, dict(request.headers), body))
        return body

    @staticmethod
    def _usage_of(body: dict[str, Any], turn: Turn) -> tuple[int, int]:
        messages = body.get("messages") or []
        prompt = count_tokens(messages) + 3 * len(messages) + count_tokens(body.get("system") or "")
        prompt += count_tokens(body.get("tools") or [])
        completion = count_tokens(turn.text or "") + sum(
            count_tokens(c.name) + count_tokens(json.dumps(c.arguments)) for c in turn.tool_calls
        )
        return prompt, completion

    # OpenAI

    async def _openai(self, request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return JSONResponse(
                {
                    "error": {
                        "message": "Incorrect API key provided.",
                        "type": "invalid_request_error",
                        "param": None,
                        "code": "invalid_api_key",
                    }
                },
                status_code=401,
            )
        body = await self._read(request)
        if body is None or not isinstance(body.get("messages"), list) or not body.get("model"):
            message = "a JSON body with 'messages' and 'model' is required"
            err = {"message": message, "type": "invalid_request_error", "param": None, "code": None}
            return JSONResponse({"error": err}, status_code=400)
        turn = self.script.next()
        if turn.status != 200:
            headers = {"retry-after": f"{turn.retry_after:g}"} if turn.retry_after is not None else {}
            err = {"message": turn.message, "type": turn.error_type, "param": None, "code": turn.error_type}
            return JSONResponse({"error": err}, status_code=turn.status, headers=headers)
        prompt, completion = self._usage_of(body, turn)
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        chat_id, created, model = f"chatcmpl-{next(self._ids)}", int(time.time()), body["model"]
        calls = [
            {
                "id": f"call_{next(self._ids)}",
                "type": "function",
                "function": {"name": c.name, "arguments": json.dumps(c.arguments)},
            }
            for c in turn.tool_calls
        ]
        finish = "tool_calls" if calls else "stop"
        if not body.get("stream"):
            if turn.hold is not None:
                await asyncio.to_thread(turn.hold.wait, 60)
            if turn.delay:
                await asyncio.sleep(turn.delay)
            message: dict[str, Any] = {"role": "assistant", "content": turn.text, "refusal": None}
            if calls:
                message["tool_calls"] = calls
            return JSONResponse(
                {
                    "id": chat_id,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
                    "usage": usage,
                    "system_fingerprint": "fp_fake",
                }
            )
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> str:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            data = {
                "id": chat_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_fake",
                "choices": [choice],
            }
            return f"data: {json.dumps(data)}\n\n"

        async def events() -> AsyncIterator[str]:
            if turn.delay:
                await asyncio.sleep(turn.delay)
            yield chunk({"role": "assistant", "content": ""})
            for piece in _pieces(turn.text or ""):
                yield chunk({"content": piece})
            for index, call in enumerate(calls):
                head = {
                    "index": index,
                    "id": call["id"],
                    "type": "function",
                    "function": {"name": call["function"]["name"], "arguments": ""},
                }
                yield chunk({"tool_calls": [head]})
                for piece in _pieces(call["function"]["arguments"]):
                    yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
            yield chunk({}, finish)
            if include_usage:
                data = {
                    "id": chat_id,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [],
                    "usage": usage,
                }
                yield f"data: {json.dumps(data)}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    # Anthropic

    async def _anthropic(self, request: Request) -> Response:
        if request.headers.get("x-api-key") != self.api_key:
            return _anthropic_error(401, "authentication_error", "invalid x-api-key")
        if not request.headers.get("anthropic-version"):
            return _anthropic_error(400, "invalid_request_error", "anthropic-version: header is required")
        body = await self._read(request)
        if (
            body is None
            or not isinstance(body.get("messages"), list)
            or not isinstance(body.get("max_tokens"), int)
        ):
            return _anthropic_error(400, "invalid_request_error", "messages, max_tokens: Field required")
        if any(m.get("role") not in ("user", "assistant") for m in body["messages"]):
            return _anthropic_error(400, "invalid_request_error", "messages: roles must be user or assistant")
        turn = self.script.next()
        if turn.status != 200:
            error_type = {429: "rate_limit_error", 529: "overloaded_error"}.get(turn.status, "api_error")
            headers = {"retry-after": f"{turn.retry_after:g}"} if turn.retry_after is not None else {}
            return _anthropic_error(turn.status, error_type, turn.message, headers)
        prompt, completion = self._usage_of(body, turn)
        content: list[dict[str, Any]] = [{"type": "text", "text": turn.text}] if turn.text else []
        content += [
            {"type": "tool_use", "id": f"toolu_{next(self._ids)}", "name": c.name, "input": c.arguments}
            for c in turn.tool_calls
        ]
        stop = "tool_use" if turn.tool_calls else "end_turn"
        message = {
            "id": f"msg_{next(self._ids)}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model"),
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {"input_tokens": prompt, "output_tokens": completion},
        }
        if not body.get("stream"):
            return JSONResponse(message)

        def event(name: str, data: dict[str, Any]) -> str:
            return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n"

        async def events() -> AsyncIterator[str]:
            if turn.delay:
                await asyncio.sleep(turn.delay)
            start = {
                **message,
                "content": [],
                "stop_reason": None,
                "usage": {"input_tokens": prompt, "output_tokens": 1},
            }
            yield event("message_start", {"message": start})
            for index, block in enumerate(content):
                if block["type"] == "text":
                    yield event(
                        "content_block_start", {"index": index, "content_block": {"type": "text", "text": ""}}
                    )
                    for piece in _pieces(block["text"]):
                        yield event(
                            "content_block_delta",
                            {"index": index, "delta": {"type": "text_delta", "text": piece}},
                        )
                else:
                    opening = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
                    yield event("content_block_start", {"index": index, "content_block": opening})
                    for piece in _pieces(json.dumps(block["input"])):
                        delta = {"type": "input_json_delta", "partial_json": piece}
                        yield event("content_block_delta", {"index": index, "delta": delta})
                yield event("content_block_stop", {"index": index})
            yield event(
                "message_delta",
                {
                    "delta": {"stop_reason": stop, "stop_sequence": None},
                    "usage": {"output_tokens": completion},
                },
            )
            yield event("message_stop", {})

        return StreamingResponse(events(), media_type="text/event-stream")


def _anthropic_error(
    status: int, error_type: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    body = {"type": "error", "error": {"type": error_type, "message": message}}
    return JSONResponse(body, status_code=status, headers=headers or {})


def _pieces(text: str, size: int = 8) -> Iterator[str]:
    for start in range(0, len(text), size):
        yield text[start : start + size]


def main() -> None:
    """Serve both fake APIs on their own, for a benchmark: every turn answers "ok"."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--key", default="sk-fake-model-key", help="the API key the fake accepts")
    args = parser.parse_args()
    fake = FakeModels(api_key=args.key, port=args.port).start()
    print(f"fake models on {fake.url}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
