"""How Nexus answers errors: one handler for the errors that carry an answer, validation without echoes.

A :class:`~oblivion_nexus.errors.ServiceError` carries its answer (``status``, ``detail``,
``retry_after``, the headers its protocol asks for), so the service that raises it decides what the
caller is told and this module only writes it down; routes do not catch errors to translate them.
Any other error, and a ``ServiceError`` with ``status`` 500, propagates as the fault it is (logged
with its traceback, answered with a bare 500).

Below ``/v1/llm/`` every error is written in OpenAI's shape (``{"error": {message, type, code,
param}}``), the token check's 401 and 403 included, since the clients there are OpenAI's SDKs.

FastAPI's default 422 body repeats each offending input value; for a registry PUT that could be a
client secret or credential value, so Nexus answers with the location and message only.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from oblivion_nexus.errors import ServiceError

logger = logging.getLogger(__name__)


class InvalidRequest(ServiceError):
    """A request a route's own checks refuse, beyond what its declared types catch: 422 with
    ``detail`` (a message, or problems shaped like a validation error's: ``loc``, ``msg``, ``type``)."""

    status = 422


def retry_after_header(seconds: float) -> str:
    """``Retry-After`` in whole seconds, rounded up and at least 1 (0 would invite a busy loop)."""
    return str(max(1, math.ceil(seconds)))


def error_response(error: ServiceError, extra_headers: Mapping[str, str] | None = None) -> JSONResponse:
    """The answer ``error`` asks for: its status, its body and headers, ``Retry-After`` when set."""
    headers = dict(error.headers)
    if error.retry_after is not None:
        headers["Retry-After"] = retry_after_header(error.retry_after)
    headers.update(extra_headers or {})
    return JSONResponse(error.body(), status_code=error.status, headers=headers or None)


# Where the callers are OpenAI clients, and OpenAI's error type for a status it has no type of ours.
_OPENAI_PREFIX = "/v1/llm/"
_OPENAI_TYPES = {
    401: "invalid_api_key",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_exceeded",
}


def _openai_shaped(response: JSONResponse, status: int, detail: object) -> JSONResponse:
    """``response`` with OpenAI's error body, keeping its status and headers."""
    kind = _OPENAI_TYPES.get(status, "invalid_request_error" if status < 500 else "server_error")
    message = detail if isinstance(detail, str) else str(detail)
    body = {"error": {"message": message, "type": kind, "code": kind, "param": None}}
    headers = {
        k: v for k, v in response.headers.items() if k.lower() not in ("content-length", "content-type")
    }
    return JSONResponse(body, status_code=status, headers=headers or None)


async def _service_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    if exc.status == 500:
        raise exc
    if exc.status > 500:
        logger.warning("%s %s failed (%d): %s", request.method, request.url.path, exc.status, exc)
    else:
        logger.info("%s %s refused (%d): %s", request.method, request.url.path, exc.status, exc)
    response = error_response(exc)
    body = exc.body()
    if request.url.path.startswith(_OPENAI_PREFIX) and "error" not in body:
        return _openai_shaped(response, exc.status, body.get("detail", str(exc)))
    return response


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {"loc": list(err.get("loc", ())), "msg": str(err.get("msg", "")), "type": str(err.get("type", ""))}
        for err in exc.errors()
    ]
    if request.url.path.startswith(_OPENAI_PREFIX):
        where = "; ".join(f"{'.'.join(map(str, p['loc']))}: {p['msg']}" for p in problems)
        return _openai_shaped(JSONResponse(None), 422, where)
    return JSONResponse({"detail": problems}, status_code=422)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ServiceError, _service_error)
