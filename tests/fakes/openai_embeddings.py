"""A fake OpenAI embeddings API (``POST /v1/embeddings``), served over real HTTP on loopback.

It answers in OpenAI's documented shapes: a ``list`` of ``embedding`` objects with ``index`` and
``usage``, ``401 invalid_api_key`` for a wrong or missing bearer key (whose message quotes part of
the key, as OpenAI's does), ``400 invalid_request_error`` for empty input or more than 2,048 inputs,
and, when told to, ``429 rate_limit_exceeded`` with ``Retry-After`` or ``500 server_error``.
Vectors are deterministic unit vectors derived from the text (the same text, the same vector), so
callers can be checked for order and batching. Every request is recorded.
"""

from __future__ import annotations

import hashlib
import math
import threading
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.support.servers import LoopbackServer

DEFAULT_KEY = "sk-test-FAKEOPENAIKEY0123456789"
DEFAULT_MODEL = "text-embedding-3-small"
MAX_INPUTS = 2048  # OpenAI's documented limit of inputs per request


def fake_vector(text: str, dimension: int) -> list[float]:
    """The unit vector the fake returns for ``text``."""
    raw: list[float] = []
    counter = 0
    while len(raw) < dimension:
        block = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        raw.extend((b - 127.5) / 127.5 for b in block)
        counter += 1
    raw = raw[:dimension]
    norm = math.sqrt(sum(x * x for x in raw))
    return [x / norm for x in raw]


def _error(status: int, message: str, type_: str, code: str | None, **headers: str) -> JSONResponse:
    body = {"error": {"message": message, "type": type_, "param": None, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


@dataclass
class RecordedRequest:
    model: str
    inputs: list[str]
    authorization: str | None


class FakeOpenAIEmbeddings:
    """In-memory OpenAI embeddings endpoint; ``base_url`` ends in ``/v1`` like OpenAI's."""

    def __init__(self, *, key: str = DEFAULT_KEY, dimensions: dict[str, int] | None = None) -> None:
        self.key = key
        self.dimensions = dimensions or {DEFAULT_MODEL: 1536, "text-embedding-3-large": 3072}
        self.requests: list[RecordedRequest] = []
        self.rate_limited_requests = 0
        self.retry_after = "2"
        self.failing_requests = 0
        self.reverse_order = False
        self._lock = threading.Lock()
        self._server = LoopbackServer(
            Starlette(routes=[Route("/v1/embeddings", self._embeddings, methods=["POST"])])
        )

    @property
    def base_url(self) -> str:
        return self._server.base_url + "/v1"

    def __enter__(self) -> FakeOpenAIEmbeddings:
        self._server.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.stop()

    def rate_limit(self, requests: int, *, retry_after: str = "2") -> None:
        """Answer the next ``requests`` requests with 429."""
        with self._lock:
            self.rate_limited_requests = requests
            self.retry_after = retry_after

    def fail(self, requests: int) -> None:
        """Answer the next ``requests`` requests with 500."""
        with self._lock:
            self.failing_requests = requests

    async def _embeddings(self, request: Request) -> JSONResponse:
        auth = request.headers.get("authorization")
        if auth != f"Bearer {self.key}":
            shown = (auth or "").removeprefix("Bearer ")
            return _error(
                401,
                f"Incorrect API key provided: {shown[:6]}***{shown[-4:]}. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                "invalid_api_key",
            )
        body: dict[str, Any] = await request.json()
        model = body.get("model", "")
        raw = body.get("input")
        inputs = [raw] if isinstance(raw, str) else raw
        with self._lock:
            self.requests.append(RecordedRequest(model, list(inputs or []), auth))
            if self.rate_limited_requests:
                self.rate_limited_requests -= 1
                return _error(
                    429,
                    f"Rate limit reached for {model} in organization org-fake on requests per min (RPM): "
                    "Limit 3000, Used 3000, Requested 1.",
                    "requests",
                    "rate_limit_exceeded",
                    **{"retry-after": self.retry_after, "x-ratelimit-reset-requests": "20ms"},
                )
            if self.failing_requests:
                self.failing_requests -= 1
                return _error(
                    500, "The server had an error while processing your request.", "server_error", None
                )
        if model not in self.dimensions:
            return _error(
                404, f"The model `{model}` does not exist", "invalid_request_error", "model_not_found"
            )
        if not isinstance(inputs, list) or not inputs or any(not isinstance(t, str) or not t for t in inputs):
            return _error(400, "'$.input' is invalid.", "invalid_request_error", None)
        if len(inputs) > MAX_INPUTS:
            return _error(
                400, f"'$.input' must have at most {MAX_INPUTS} items.", "invalid_request_error", None
            )
        dimension = self.dimensions[model]
        data = [
            {"object": "embedding", "index": i, "embedding": fake_vector(text, dimension)}
            for i, text in enumerate(inputs)
        ]
        if self.reverse_order:
            data.reverse()
        tokens = sum(len(t.split()) for t in inputs)
        return JSONResponse(
            {
                "object": "list",
                "data": data,
                "model": model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )
