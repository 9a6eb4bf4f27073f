"""Agent access tokens: the JWTs issued by ``POST /oauth/token`` and checked by the gateway.

HS256 is pinned on both sides, so a token claiming ``alg: none`` or an asymmetric algorithm (the
classic key-confusion attack) is refused. Issuer, audience, expiry and every claim the gateway relies
on are required. The token itself is a secret: it is never logged.

A token names the agent twice: by name (``workgroup``, ``sub``), which people read, and by its
immutable registry id (``aid``) with the credential generation it was issued under (``gen``). The
signature only proves Nexus issued it; ``auth.revocation`` checks on every request and connect
that the id still exists, is enabled and is still at that generation, so a deleted, disabled,
rotated or narrowed agent's old tokens stop working at once instead of at expiry.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import uuid
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import jwt
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from oblivion_nexus.errors import ServiceError
from oblivion_nexus.services import registry
from oblivion_nexus.services.registry.schemas import AgentRecord
from oblivion_nexus.settings import NexusSettings
from oblivion_nexus.stores.crypto import hash_client_secret, verify_client_secret

logger = logging.getLogger(__name__)

ALGORITHM = "HS256"
_REQUIRED_CLAIMS = ["iss", "aud", "sub", "exp", "iat", "jti", "workgroup", "projects", "aid", "gen"]
# Clock skew tolerated between Nexus replicas when checking exp/iat.
_LEEWAY_SECONDS = 10
# Tokens remembered as verified: more than the agents one Nexus serves at once hold (one each).
_VERIFIED_TOKENS = 16_384


# RFC 6750 §3: a 401 names the scheme and realm; ``error`` only when a token was presented.
AGENT_CHALLENGE = 'Bearer realm="oblivion-agents"'
INVALID_TOKEN_CHALLENGE = f'{AGENT_CHALLENGE}, error="invalid_token"'


class TokenError(ServiceError):
    """An access token is malformed, forged, expired or not meant for us; ``reason`` says which.

    Answered 401 with the RFC 6750 challenge: the agent should fetch a new token.
    """

    status = 401
    headers = MappingProxyType({"WWW-Authenticate": INVALID_TOKEN_CHALLENGE})

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __repr__(self) -> str:
        return f"{type(self).__name__}(reason={self.reason!r})"


class MissingToken(TokenError):
    """The request carries no bearer token at all (so the challenge names no error, as RFC 6750 asks)."""

    headers = MappingProxyType({"WWW-Authenticate": AGENT_CHALLENGE})

    def __init__(self) -> None:
        super().__init__("an agent access token is required (Authorization: Bearer …)")


# RFC 6749 §5.1: token responses, errors included, must not be cached.
NO_STORE = MappingProxyType({"Cache-Control": "no-store", "Pragma": "no-cache"})


class OAuthError(ServiceError):
    """A token request refused with RFC 6749's error object (§5.2): ``error`` is its code
    (``invalid_request``, ``invalid_client``, ``unsupported_grant_type``…), the message its
    ``error_description``, which is safe to show."""

    status = 400
    headers = NO_STORE

    def __init__(self, error: str, description: str, *, retry_after: float | None = None) -> None:
        super().__init__(description, retry_after=retry_after)
        self.error = error

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "error_description": self.detail}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.error!r}, {self.detail!r})"


class ClientAuthError(OAuthError):
    """OAuth2 client authentication failed (RFC 6749 ``invalid_client``); the reason is safe to show."""

    status = 401
    headers = MappingProxyType({**NO_STORE, "WWW-Authenticate": 'Basic realm="oblivion"'})

    def __init__(self, description: str) -> None:
        super().__init__("invalid_client", description)


@dataclass(frozen=True, slots=True)
class AgentIdentity:
    """Who a verified token speaks for, and what it may touch."""

    workgroup: str
    agent: str
    projects: tuple[str, ...]
    jti: str
    expires_at: float
    agent_id: int  # the registry's immutable id: a re-created agent of the same name has another
    generation: int  # the agent's credential generation when the token was issued


def issue_access_token(
    settings: NexusSettings,
    *,
    workgroup: str,
    agent: str,
    agent_id: int,
    generation: int,
    projects: tuple[str, ...] | list[str],
    now: float | None = None,
    ttl_seconds: int | None = None,
) -> tuple[str, int]:
    """Sign a token for ``agent`` of ``workgroup``; returns ``(token, expires_in)``."""
    issued_at = int(now if now is not None else time.time())
    expires_in = ttl_seconds if ttl_seconds is not None else settings.tokens.ttl_seconds
    claims: dict[str, Any] = {
        "iss": settings.tokens.issuer,
        "aud": settings.tokens.audience,
        "sub": agent,
        "aid": agent_id,
        "gen": generation,
        "workgroup": workgroup,
        "projects": list(projects),
        "iat": issued_at,
        "exp": issued_at + expires_in,
        "jti": uuid.uuid4().hex,
    }
    token = jwt.encode(claims, settings.tokens.signing_key.get_secret_value(), algorithm=ALGORITHM)
    logger.info("issued access token jti=%s for agent %s/%s", claims["jti"], workgroup, agent)
    return token, expires_in


def verify_access_token(settings: NexusSettings, token: str) -> AgentIdentity:
    """Check signature, algorithm, issuer, audience and expiry; return the identity or raise TokenError.

    An agent sends the same token on every call until it fetches the next, so a token that passed
    is remembered (by its exact text, with the key that verified it) and only its expiry is checked
    again; one that failed is checked in full each time.
    """
    tokens = settings.tokens
    identity = _verified(tokens.signing_key.get_secret_value(), tokens.audience, tokens.issuer, token)
    if time.time() > identity.expires_at + _LEEWAY_SECONDS:
        raise TokenError("token expired")
    return identity


@functools.lru_cache(maxsize=_VERIFIED_TOKENS)
def _verified(signing_key: str, audience: str, issuer: str, token: str) -> AgentIdentity:
    try:
        claims = jwt.decode(
            token,
            signing_key,
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=issuer,
            leeway=_LEEWAY_SECONDS,
            options={"require": _REQUIRED_CLAIMS},
        )
    except jwt.ExpiredSignatureError as e:
        raise TokenError("token expired") from e
    except jwt.InvalidAudienceError as e:
        raise TokenError("token audience is wrong") from e
    except jwt.InvalidIssuerError as e:
        raise TokenError("token issuer is wrong") from e
    except jwt.MissingRequiredClaimError as e:
        raise TokenError(f"token lacks the {e.claim!r} claim") from e
    except jwt.InvalidAlgorithmError as e:
        raise TokenError("token algorithm is not allowed") from e
    except jwt.InvalidSignatureError as e:
        raise TokenError("token signature is invalid") from e
    except jwt.PyJWTError as e:
        raise TokenError("token is malformed") from e
    projects = claims["projects"]
    if not isinstance(projects, list) or not all(isinstance(p, str) for p in projects):
        raise TokenError("token 'projects' claim must be a list of strings")
    for name in ("sub", "workgroup", "jti"):
        if not isinstance(claims[name], str) or not claims[name]:
            raise TokenError(f"token {name!r} claim must be a non-empty string")
    for name in ("aid", "gen"):
        if type(claims[name]) is not int or claims[name] < 0:
            raise TokenError(f"token {name!r} claim must be a non-negative integer")
    return AgentIdentity(
        workgroup=claims["workgroup"],
        agent=claims["sub"],
        projects=tuple(projects),
        jti=claims["jti"],
        expires_at=float(claims["exp"]),
        agent_id=claims["aid"],
        generation=claims["gen"],
    )


@functools.cache
def _decoy_hash() -> str:
    """Verified against when a client id is unknown, so a wrong id costs the time a wrong secret does."""
    return hash_client_secret(uuid.uuid4().hex)


async def authenticate_client(
    sessionmaker: async_sessionmaker[AsyncSession], client_id: str, client_secret: str
) -> AgentRecord:
    """The agent whose client credentials these are; raise ClientAuthError otherwise.

    Until the secret is verified, a known and an unknown client id cost the same: one read of one
    column, then one hash check (of a decoy for an unknown id). The agent is loaded only after.
    """
    async with sessionmaker() as session:
        stored = await registry.client_secret_hash(session, client_id)
    checked = stored if stored is not None else await asyncio.to_thread(_decoy_hash)
    ok = await asyncio.to_thread(verify_client_secret, client_secret, checked)
    found = None
    if stored is not None and ok:
        async with sessionmaker() as session:
            found = await registry.get_agent_by_client_id(session, client_id)
    if found is None:
        logger.info("client authentication failed for client id %r", client_id[:64])
        raise ClientAuthError("unknown client or wrong secret")
    agent = found[0]
    if agent.disabled:
        logger.info("refused a token to disabled agent %s/%s", agent.workgroup, agent.name)
        raise ClientAuthError("this agent is disabled")
    return agent


async def issue_token_for_client(
    settings: NexusSettings,
    sessionmaker: async_sessionmaker[AsyncSession],
    client_id: str,
    client_secret: str,
) -> tuple[str, int]:
    """Client-credentials grant: authenticate, resolve the allowed projects, sign a token."""
    agent = await authenticate_client(sessionmaker, client_id, client_secret)
    projects: tuple[str, ...] | list[str] = agent.projects
    if not projects:  # no list means every project the workgroup has right now
        async with sessionmaker() as session:
            projects = await registry.list_project_names(session, agent.workgroup)
    return issue_access_token(
        settings,
        workgroup=agent.workgroup,
        agent=agent.name,
        agent_id=agent.id,
        generation=agent.credential_generation,
        projects=projects,
    )
