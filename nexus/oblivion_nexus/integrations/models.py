"""Model providers behind Nexus's OpenAI-compatible gateway: forward a chat request, count its tokens.

Agents speak OpenAI's Chat Completions (messages, tools and function calling, JSON mode, streaming as
server-sent events); Nexus holds the provider's key and forwards:

- `openai` and `openai-compatible` (vLLM, Ollama, LiteLLM, Azure OpenAI, … by base URL): the request
  goes as it is, with the model Nexus chose. Streams ask for the final usage chunk
  (`stream_options.include_usage`) so every call is counted; that chunk is passed on only when the
  agent asked for it too.
- `anthropic`: translated to Anthropic's Messages API (its native API rather than its OpenAI
  compatibility layer, which Anthropic does not recommend for production): system and developer
  messages become `system`, tool calls and tool results become `tool_use` and `tool_result` blocks,
  `tool_choice` maps to auto/any/tool/none, `max_tokens` defaults to 4,096, JSON mode becomes a
  system instruction (Anthropic has no JSON mode), and the answer and its stream events come back
  in OpenAI's shapes, with `input_tokens`/`output_tokens` as prompt and completion tokens.

Failures become :class:`ModelError` with the status the agent should see and, for rate limits,
`retry_after`; messages never carry the key.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from oblivion_nexus.integrations.errors import IntegrationError
from oblivion_nexus.integrations.upstream import Upstream, UpstreamError, UpstreamResponse, UpstreamStream

ProviderKind = Literal["openai", "openai-compatible", "anthropic"]
ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_ANTHROPIC_MAX_TOKENS = 4096
JSON_MODE_INSTRUCTION = "Respond with one JSON object and nothing else."
_DEFAULT_RETRY_AFTER_SECONDS = 10.0


class ModelError(IntegrationError):
    """A model call failed: `status` for the agent, the upstream's `message`, `retry_after` on 429."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        error_type: str = "upstream_error",
        retry_after: float | None = None,
        upstream_status: int | None = None,
    ):
        super().__init__(f"model upstream failed with HTTP {status}: {message}")
        self.status = status
        self.message = message
        self.error_type = error_type
        self.retry_after = retry_after
        # What the provider answered (None when it could not be reached or its answer was not JSON).
        self.upstream_status = upstream_status

    def as_openai_error(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.error_type,
                "param": None,
                "code": self.error_type,
            }
        }


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class ProviderConfig:
    kind: ProviderKind
    base_url: str
    api_key: str = field(repr=False)  # empty: a server that takes no key (a local vLLM or Ollama)
    # Azure OpenAI sends the key as `api-key`, most others as `Authorization: Bearer`.
    key_header: str = "Authorization"
    extra_headers: tuple[tuple[str, str], ...] = ()


def _retry_after(response: UpstreamResponse | UpstreamStream) -> float:
    try:
        return max(float(response.headers.get("retry-after", "")), 0.0)
    except ValueError:
        return _DEFAULT_RETRY_AFTER_SECONDS


def _upstream_error(response: UpstreamResponse | UpstreamStream, body: Any) -> ModelError:
    error = _upstream_error_for(response, body)
    error.upstream_status = response.status
    return error


def _upstream_error_for(response: UpstreamResponse | UpstreamStream, body: Any) -> ModelError:
    status = response.status
    error = body.get("error") if isinstance(body, dict) else None
    message = str(error.get("message")) if isinstance(error, dict) else response.reason or "error"
    error_type = str(error.get("type")) if isinstance(error, dict) and error.get("type") else "upstream_error"
    if status == 429:
        return ModelError(429, message, error_type="rate_limit_exceeded", retry_after=_retry_after(response))
    if status in (500, 502, 503, 504, 529):
        return ModelError(
            503 if status == 529 else 502, message, error_type=error_type, retry_after=_retry_after(response)
        )
    if status in (401, 403):
        # The agent's request was fine; Nexus's credential was not. The agent cannot fix that.
        # Its message is not passed on: providers quote part of the key they refused.
        return ModelError(
            502,
            f"the model provider refused Nexus's credential (HTTP {status}); a platform team must fix "
            "the workgroup's model credential",
            error_type="upstream_auth",
        )
    return ModelError(status if 400 <= status < 500 else 502, message, error_type=error_type)


class ChatStream:
    """The server-sent events to pass to the agent, in OpenAI's chunk format; `usage` once seen."""

    def __init__(self) -> None:
        self.usage: Usage | None = None
        self._events: AsyncGenerator[bytes] | None = None

    def __aiter__(self) -> AsyncGenerator[bytes]:
        assert self._events is not None, "a ChatStream comes from ModelProvider.stream"
        return self._events

    async def aclose(self) -> None:
        """Release the upstream's connection (done already when the events were read to their end)."""
        if self._events is not None:
            await self._events.aclose()


def _sse(data: Mapping[str, Any] | str) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return f"data: {text}\n\n".encode()


async def _sse_events(response: UpstreamStream) -> AsyncIterator[tuple[str | None, str]]:
    """(event name, data) of each server-sent event, joined across `data:` lines."""
    name: str | None = None
    data: list[str] = []
    async for line in response.lines():
        if not line:
            if data:
                yield name, "\n".join(data)
            name, data = None, []
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())
    if data:
        yield name, "\n".join(data)


class ModelProvider:
    """One provider credential. Share one :class:`Upstream` pool (it carries no credential)."""

    def __init__(self, config: ProviderConfig, http: Upstream) -> None:
        self.config = config
        self._http = http

    def _headers(self) -> dict[str, str]:
        headers = dict(self.config.extra_headers)
        if not self.config.api_key:
            if self.config.kind == "anthropic":
                headers["anthropic-version"] = ANTHROPIC_VERSION
            return headers
        if self.config.kind == "anthropic":
            headers.update({"x-api-key": self.config.api_key, "anthropic-version": ANTHROPIC_VERSION})
        elif self.config.key_header.lower() == "authorization":
            headers["Authorization"] = f"Bearer {self.config.api_key}"
        else:
            headers[self.config.key_header] = self.config.api_key
        return headers

    def _url(self) -> str:
        path = "messages" if self.config.kind == "anthropic" else "chat/completions"
        return f"{self.config.base_url.rstrip('/')}/{path}"

    async def complete(self, request: Mapping[str, Any]) -> tuple[dict[str, Any], Usage]:
        body = to_anthropic(request) if self.config.kind == "anthropic" else {**request, "stream": False}
        try:
            response = await self._http.request("POST", self._url(), json=body, headers=self._headers())
        except UpstreamError as e:
            raise ModelError(502, f"the model provider could not be reached ({e.reason})") from e
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status >= 400 or not isinstance(data, dict):
            raise (_upstream_error(response, data) if response.status >= 400 else ModelError(502, "not JSON"))
        if self.config.kind == "anthropic":
            data = from_anthropic(data, request.get("model"))
        usage = data.get("usage") or {}
        return data, Usage(int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0)))

    async def stream(self, request: Mapping[str, Any]) -> ChatStream:
        """Opens the upstream stream (errors before the first byte raise here) and returns its events."""
        wants_usage = bool((request.get("stream_options") or {}).get("include_usage"))
        if self.config.kind == "anthropic":
            body = {**to_anthropic(request), "stream": True}
        else:
            body = {
                **request,
                "stream": True,
                "stream_options": {**(request.get("stream_options") or {}), "include_usage": True},
            }
        try:
            response = await self._http.stream("POST", self._url(), json=body, headers=self._headers())
        except UpstreamError as e:
            raise ModelError(502, f"the model provider could not be reached ({e.reason})") from e
        if response.status >= 400:
            try:
                data = json.loads(await response.read())
            except (ValueError, UpstreamError):
                data = None
            finally:
                await response.aclose()
            raise _upstream_error(response, data)
        stream = ChatStream()
        stream._events = self._events(response, stream, wants_usage, request.get("model"))
        return stream

    async def _events(
        self, response: UpstreamStream, stream: ChatStream, wants_usage: bool, model: Any
    ) -> AsyncGenerator[bytes]:
        try:
            if self.config.kind == "anthropic":
                async for chunk in _anthropic_chunks(response, stream, model):
                    yield chunk
                if wants_usage and stream.usage is not None:
                    usage = stream.usage
                    yield _sse(
                        {
                            "object": "chat.completion.chunk",
                            "model": model,
                            "choices": [],
                            "usage": {
                                "prompt_tokens": usage.prompt_tokens,
                                "completion_tokens": usage.completion_tokens,
                                "total_tokens": usage.total_tokens,
                            },
                        }
                    )
                yield _sse("[DONE]")
                return
            async for _, data in _sse_events(response):
                if data == "[DONE]":
                    yield _sse("[DONE]")
                    return
                try:
                    event = json.loads(data)
                except ValueError:
                    continue
                reported = event.get("usage") if isinstance(event, dict) else None
                if isinstance(reported, dict):
                    stream.usage = Usage(
                        int(reported.get("prompt_tokens", 0)), int(reported.get("completion_tokens", 0))
                    )
                    if not wants_usage:
                        if not event.get("choices"):
                            continue  # the usage chunk only Nexus asked for
                        event = {k: v for k, v in event.items() if k != "usage"}
                yield _sse(event)
        finally:
            await response.aclose()


# Anthropic's Messages API in OpenAI's shapes


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


def to_anthropic(request: Mapping[str, Any]) -> dict[str, Any]:
    """An OpenAI chat request as an Anthropic Messages request."""
    system: list[str] = []
    messages: list[dict[str, Any]] = []

    def add(role: str, blocks: list[dict[str, Any]]) -> None:
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"].extend(blocks)
        else:
            messages.append({"role": role, "content": blocks})

    for message in request.get("messages") or []:
        role = message.get("role")
        if role in ("system", "developer"):
            system.append(_text_of(message.get("content")))
        elif role == "user":
            add("user", [{"type": "text", "text": _text_of(message.get("content"))}])
        elif role == "assistant":
            blocks: list[dict[str, Any]] = []
            if _text_of(message.get("content")):
                blocks.append({"type": "text", "text": _text_of(message.get("content"))})
            for call in message.get("tool_calls") or []:
                function = call.get("function") or {}
                try:
                    arguments = json.loads(function.get("arguments") or "{}")
                except ValueError:
                    arguments = {}
                blocks.append(
                    {
                        "type": "tool_use",
                        "id": call.get("id"),
                        "name": function.get("name"),
                        "input": arguments,
                    }
                )
            add("assistant", blocks or [{"type": "text", "text": ""}])
        elif role == "tool":
            result = {
                "type": "tool_result",
                "tool_use_id": message.get("tool_call_id"),
                "content": _text_of(message.get("content")),
            }
            add("user", [result])
    if (request.get("response_format") or {}).get("type") in ("json_object", "json_schema"):
        system.append(JSON_MODE_INSTRUCTION)
    body: dict[str, Any] = {
        "model": request.get("model"),
        "messages": messages,
        "max_tokens": request.get("max_completion_tokens")
        or request.get("max_tokens")
        or DEFAULT_ANTHROPIC_MAX_TOKENS,
    }
    if system:
        body["system"] = "\n\n".join(s for s in system if s)
    for ours, theirs in (("temperature", "temperature"), ("top_p", "top_p")):
        if request.get(ours) is not None:
            body[theirs] = request[ours]
    stop = request.get("stop")
    if stop:
        body["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    tools = request.get("tools") or []
    if tools:
        body["tools"] = [
            {
                "name": t["function"]["name"],
                "description": t["function"].get("description", ""),
                "input_schema": t["function"].get("parameters") or {"type": "object", "properties": {}},
            }
            for t in tools
            if t.get("type") == "function"
        ]
    choice = request.get("tool_choice")
    if choice == "auto":
        body["tool_choice"] = {"type": "auto"}
    elif choice == "required":
        body["tool_choice"] = {"type": "any"}
    elif choice == "none":
        body["tool_choice"] = {"type": "none"}
    elif isinstance(choice, dict) and choice.get("type") == "function":
        body["tool_choice"] = {"type": "tool", "name": choice["function"]["name"]}
    return body


_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "tool_use": "tool_calls", "max_tokens": "length"}


def from_anthropic(message: Mapping[str, Any], model: Any) -> dict[str, Any]:
    """An Anthropic message as an OpenAI chat completion."""
    text = "".join(b.get("text", "") for b in message.get("content") or [] if b.get("type") == "text")
    calls = [
        {
            "id": b.get("id"),
            "type": "function",
            "function": {"name": b.get("name"), "arguments": json.dumps(b.get("input") or {})},
        }
        for b in message.get("content") or []
        if b.get("type") == "tool_use"
    ]
    reply: dict[str, Any] = {"role": "assistant", "content": text or None}
    if calls:
        reply["tool_calls"] = calls
    usage = message.get("usage") or {}
    prompt, completion = int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0))
    return {
        "id": message.get("id"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": reply,
                "logprobs": None,
                "finish_reason": _FINISH.get(str(message.get("stop_reason")), "stop"),
            }
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }


async def _anthropic_chunks(response: UpstreamStream, stream: ChatStream, model: Any) -> AsyncIterator[bytes]:
    chat_id, created = "", int(time.time())
    tool_index: dict[int, int] = {}  # Anthropic content block index → OpenAI tool_calls index
    usage = Usage()

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return _sse(
            {
                "id": chat_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [choice],
            }
        )

    async for name, data in _sse_events(response):
        try:
            event = json.loads(data)
        except ValueError:
            continue
        kind = event.get("type") or name
        if kind == "message_start":
            chat_id = event["message"].get("id", "")
            usage.prompt_tokens = int(event["message"].get("usage", {}).get("input_tokens", 0))
            yield chunk({"role": "assistant", "content": ""})
        elif kind == "content_block_start" and event["content_block"].get("type") == "tool_use":
            block = event["content_block"]
            tool_index[event["index"]] = len(tool_index)
            yield chunk(
                {
                    "tool_calls": [
                        {
                            "index": tool_index[event["index"]],
                            "id": block.get("id"),
                            "type": "function",
                            "function": {"name": block.get("name"), "arguments": ""},
                        }
                    ]
                }
            )
        elif kind == "content_block_delta":
            delta = event.get("delta") or {}
            if delta.get("type") == "text_delta":
                yield chunk({"content": delta.get("text", "")})
            elif delta.get("type") == "input_json_delta" and event["index"] in tool_index:
                part = {
                    "index": tool_index[event["index"]],
                    "function": {"arguments": delta.get("partial_json", "")},
                }
                yield chunk({"tool_calls": [part]})
        elif kind == "message_delta":
            usage.completion_tokens = int((event.get("usage") or {}).get("output_tokens", 0))
            stream.usage = usage
            yield chunk({}, _FINISH.get(str((event.get("delta") or {}).get("stop_reason")), "stop"))
        elif kind == "error":
            error = event.get("error") or {}
            yield _sse(
                {
                    "error": {
                        "message": error.get("message", "stream failed"),
                        "type": error.get("type", "api_error"),
                    }
                }
            )
            return
