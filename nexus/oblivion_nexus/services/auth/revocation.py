"""Tokens stay bound to the agent they were issued to: checking them, and revoking them.

A token is signed for an agent's immutable registry id and credential generation. Every REST call
and WebSocket connect asks ``check_standing`` whether that id still exists, is enabled and is still
at that generation (one Redis read, PostgreSQL on a miss). The registry tells this module about
every change it commits: ``agent_saved`` after a PUT (the generation goes up on a new secret or
client id or fewer projects, and connections opened with older tokens close with 4401; a disabled
agent's close with 4403), ``agents_deleted`` after a DELETE (tokens refused, connections closed with
4403, and the agent's Redis state purged so an agent re-created under the same name starts empty).
"""

from __future__ import annotations

import contextlib
import logging
from types import MappingProxyType
from typing import Protocol

import redis.asyncio as aioredis
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from oblivion_agent.protocol import CLOSE_FORBIDDEN, CLOSE_UNAUTHORIZED
from oblivion_nexus.errors import ServiceError
from oblivion_nexus.services import registry
from oblivion_nexus.services.auth.tokens import INVALID_TOKEN_CHALLENGE, AgentIdentity
from oblivion_nexus.services.gateway.hub import DeliveryHub
from oblivion_nexus.services.registry.schemas import AgentRecord
from oblivion_nexus.services.safeguards.circuit_breaker import BreakerError, MessageBreaker
from oblivion_nexus.services.safeguards.idempotency import (
    IdempotencyError,
    IdempotencyStore,
    idempotency_scope,
)
from oblivion_nexus.settings import NexusSettings
from oblivion_nexus.stores.agent_standing import AgentStanding, AgentStandingStore, StandingError, Status
from oblivion_nexus.stores.inbox import InboxError
from oblivion_nexus.stores.presence import PresenceError

logger = logging.getLogger(__name__)


class StandingResources(Protocol):
    @property
    def settings(self) -> NexusSettings: ...

    @property
    def redis(self) -> aioredis.Redis: ...

    @property
    def sessionmaker(self) -> async_sessionmaker[AsyncSession]: ...


class TokenRevoked(ServiceError):
    """A validly signed token no longer speaks for a usable agent.

    ``forbidden`` is True when the agent itself may not act (disabled, deleted, unknown: HTTP 403,
    close 4403; a new token will not help) and False when only this token is stale (HTTP 401, close
    4401; the agent should fetch a new one).
    """

    def __init__(self, reason: str, *, forbidden: bool) -> None:
        super().__init__(reason, status=403 if forbidden else 401)
        self.reason = reason
        self.forbidden = forbidden
        if not forbidden:
            self.headers = MappingProxyType({"WWW-Authenticate": INVALID_TOKEN_CHALLENGE})

    @property
    def close_code(self) -> int:
        return CLOSE_FORBIDDEN if self.forbidden else CLOSE_UNAUTHORIZED

    def __repr__(self) -> str:
        return f"TokenRevoked(reason={self.reason!r}, forbidden={self.forbidden})"


class StandingUnavailable(ServiceError):
    """Neither Redis nor PostgreSQL could say whether the token is still good: try again later."""

    status = 503
    retry_after = 5.0

    def __init__(self, message: str) -> None:
        super().__init__(message, detail="Nexus cannot reach its registry")


def _standing_of(record: AgentRecord | registry.AgentCredentialState | None) -> AgentStanding:
    if record is None:
        return AgentStanding(Status.GONE)
    status = Status.DISABLED if record.disabled else Status.ACTIVE
    return AgentStanding(status, record.credential_generation)


def standing_store(resources: StandingResources, hub: DeliveryHub | None) -> AgentStandingStore:
    """The hub's store (sharing delivery's bounded Redis slots), or one of its own without a hub."""
    if hub is not None and hub.standing is not None:
        return hub.standing
    return AgentStandingStore(resources.redis, resources.settings.redis.prefix)


async def check_standing(
    resources: StandingResources, identity: AgentIdentity, hub: DeliveryHub | None = None
) -> None:
    """Raise TokenRevoked unless the token's agent id exists, is enabled and is at its generation."""
    store = standing_store(resources, hub)
    standing: AgentStanding | None = None
    with contextlib.suppress(StandingError):  # Redis trouble: PostgreSQL still knows
        standing = await store.get(identity.agent_id)
    if standing is None:
        try:
            async with resources.sessionmaker() as session:
                record = await registry.get_credential_state(session, identity.agent_id)
        except SQLAlchemyError as e:
            raise StandingUnavailable(f"could not look up agent id {identity.agent_id}") from e
        if record is not None and (record.workgroup, record.name) != (identity.workgroup, identity.agent):
            record = None  # never happens to a token Nexus signed; refuse rather than guess
        standing = _standing_of(record)
        with contextlib.suppress(StandingError):
            await store.remember(identity.agent_id, standing)
    refusal = standing.refusal(identity.generation)
    if refusal is not None:
        forbidden, reason = refusal
        raise TokenRevoked(reason, forbidden=forbidden)


class RegistryChangeError(registry.RegistryError):
    """The change is committed but could not be made effective everywhere; repeat the request."""

    status = 503


async def agent_saved(resources: StandingResources, hub: DeliveryHub, record: AgentRecord) -> None:
    """Make a committed PUT of an agent effective: its tokens' standing and its open connections.

    Raises RegistryChangeError when Redis refused the new standing; repeating the PUT (which changes
    nothing in PostgreSQL) writes it again.
    """
    store = standing_store(resources, hub)
    try:
        await store.publish(record.id, _standing_of(record))
    except StandingError as e:
        logger.warning("%s", e)
        raise RegistryChangeError("the agent is saved but its tokens could not be re-checked; retry") from e
    if record.disabled:
        await hub.cut_off(record.workgroup, record.name, "agent is disabled", agent_id=record.id)
    else:  # nothing to close unless the generation just went up
        await hub.cut_off(
            record.workgroup,
            record.name,
            "token was revoked: the agent's credentials changed",
            code=CLOSE_UNAUTHORIZED,
            agent_id=record.id,
            below_generation=record.credential_generation,
        )


async def agents_deleted(
    resources: StandingResources, hub: DeliveryHub, records: list[AgentRecord], reason: str
) -> None:
    """Make committed deletions effective: refuse the agents' tokens, close their connections with
    4403 on every replica, and purge their inbox, presence, idempotency keys and breaker.

    Redis failures are logged, not raised: the agents are gone from PostgreSQL, so a repeated DELETE
    would only find nothing; their tokens are refused anyway once a cached standing expires, and
    what could not be purged expires with its own TTL.
    """
    settings = resources.settings
    store = standing_store(resources, hub)
    idempotency = IdempotencyStore(
        resources.redis, settings.redis.prefix, ttl_seconds=settings.gateway.idempotency_ttl_seconds
    )
    breaker = MessageBreaker(
        resources.redis, settings.redis.prefix, cooldown_seconds=settings.gateway.mute_seconds
    )
    failures: list[str] = []
    for record in records:
        try:
            await store.publish(record.id, AgentStanding(Status.GONE))
        except StandingError as e:
            failures.append(str(e))
        await hub.cut_off(record.workgroup, record.name, reason, agent_id=record.id)
        try:
            await hub.purge(record.workgroup, record.name)
            await breaker.release(record.workgroup, record.name)
        except (InboxError, PresenceError, BreakerError) as e:
            failures.append(str(e))
        logger.info(
            "agent %s/%s (id %d) deleted: its tokens are refused, its connections cut off",
            record.workgroup,
            record.name,
            record.id,
        )
    try:
        await idempotency.purge({idempotency_scope(r.workgroup, r.id) for r in records})
    except IdempotencyError as e:
        failures.append(str(e))
    for failure in failures:  # what stays behind expires with its own TTL
        logger.error("after a deletion: %s", failure)
