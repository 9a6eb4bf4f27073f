"""How Nexus answers errors: validation problems without echoing input, registry errors by status.

FastAPI's default 422 body repeats each offending input value; for a registry PUT that could be a
client secret or credential value, so Nexus answers with the location and message only.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from oblivion_nexus.services.registry.entries import RegistryError

logger = logging.getLogger(__name__)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {"loc": list(err.get("loc", ())), "msg": str(err.get("msg", "")), "type": str(err.get("type", ""))}
        for err in exc.errors()
    ]
    return JSONResponse({"detail": problems}, status_code=422)


async def _registry_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RegistryError)
    logger.info("%s %s refused: %s", request.method, request.url.path, exc)
    return JSONResponse({"detail": str(exc)}, status_code=exc.status)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(RegistryError, _registry_error)
