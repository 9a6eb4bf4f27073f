"""FastAPI dependencies shared by the routes: the app's resources, a database session, admin auth."""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator
from types import MappingProxyType
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from oblivion_nexus.errors import ServiceError
from oblivion_nexus.resources import Resources

logger = logging.getLogger(__name__)

_ADMIN_REALM = 'Bearer realm="oblivion-registry"'


class AdminTokenError(ServiceError):
    """A registry request whose bearer token is not the admin token: 401 with the registry realm's
    RFC 6750 challenge."""

    status = 401
    headers = MappingProxyType({"WWW-Authenticate": f'{_ADMIN_REALM}, error="invalid_token"'})


class MissingAdminToken(AdminTokenError):
    """A registry request with no bearer token at all (so the challenge names no error, as RFC 6750
    asks)."""

    headers = MappingProxyType({"WWW-Authenticate": _ADMIN_REALM})


def get_resources(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


async def _resources(request: Request) -> Resources:
    """:func:`get_resources` as a dependency. Dependencies are ``async def`` here: FastAPI runs a plain
    ``def`` dependency in its thread pool, a hand-off that cost every request about 0.5 ms."""
    return get_resources(request)


async def get_session(resources: Annotated[Resources, Depends(_resources)]) -> AsyncIterator[AsyncSession]:
    async with resources.sessionmaker() as session:
        yield session


async def require_admin(request: Request, resources: Annotated[Resources, Depends(_resources)]) -> None:
    """Accept only ``Authorization: Bearer <OBLIVION_ADMIN_TOKEN>``, compared in constant time."""
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise MissingAdminToken("a bearer admin token is required")
    expected = resources.settings.security.admin_token.get_secret_value().encode()
    if not hmac.compare_digest(presented.strip().encode(), expected):
        logger.warning("registry request with a wrong admin token from %s", request.client)
        raise AdminTokenError("the admin token is wrong")


ResourcesDep = Annotated[Resources, Depends(_resources)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
AdminDep = Depends(require_admin)
