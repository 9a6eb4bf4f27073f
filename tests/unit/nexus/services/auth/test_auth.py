"""Agent access tokens: what the gateway accepts and what it refuses."""

from __future__ import annotations

import base64
import secrets
import time

import jwt
import pytest

from oblivion_nexus.services.auth.tokens import (
    AgentIdentity,
    TokenError,
    issue_access_token,
    verify_access_token,
)
from oblivion_nexus.settings import NexusSettings, load_settings


def _settings(**overrides: object) -> NexusSettings:
    values: dict[str, object] = {
        "OBLIVION_DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:5432/unused",
        "OBLIVION_ADMIN_TOKEN": "adm-" + secrets.token_urlsafe(16),
        "OBLIVION_JWT_SIGNING_KEY": secrets.token_urlsafe(48),
        "OBLIVION_MASTER_KEY": "k1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
    }
    values.update({f"OBLIVION_{name.upper()}": value for name, value in overrides.items()})
    return load_settings(values)


def _token(settings: NexusSettings, now: float | None = None, ttl_seconds: int | None = None) -> str:
    """A token of agent ``wg/a``, issued at ``now`` for ``ttl_seconds`` (the defaults: now, the TTL set)."""
    token, _ = issue_access_token(
        settings,
        workgroup="wg",
        agent="a",
        agent_id=1,
        generation=1,
        projects=[],
        now=now,
        ttl_seconds=ttl_seconds,
    )
    return token


def test_issued_token_verifies_to_the_same_identity() -> None:
    settings = _settings()
    token, expires_in = issue_access_token(
        settings, workgroup="backend", agent="reviewer", agent_id=7, generation=3, projects=["p1"]
    )
    identity = verify_access_token(settings, token)
    assert isinstance(identity, AgentIdentity)
    assert (identity.workgroup, identity.agent, identity.projects) == ("backend", "reviewer", ("p1",))
    assert (identity.agent_id, identity.generation) == (7, 3)
    assert expires_in == 900
    assert identity.expires_at == pytest.approx(time.time() + 900, abs=5)
    assert len(identity.jti) >= 16


def test_expired_token_is_refused() -> None:
    settings = _settings()
    token = _token(settings, now=time.time() - 3600, ttl_seconds=60)
    with pytest.raises(TokenError, match="expired"):
        verify_access_token(settings, token)


def test_a_token_that_passed_is_refused_once_it_expires() -> None:
    settings = _settings()
    # Expires (leeway included) within the next second.
    token = _token(settings, now=time.time() - 100, ttl_seconds=91)
    assert verify_access_token(settings, token).agent == "a"  # remembered as verified
    time.sleep(1.1)
    with pytest.raises(TokenError, match="expired"):
        verify_access_token(settings, token)


def test_token_for_another_audience_is_refused() -> None:
    settings = _settings()
    token = _token(settings)
    verify_access_token(settings, token)  # passing once for one Nexus does not let it pass another
    with pytest.raises(TokenError, match="audience"):
        verify_access_token(
            _settings(jwt_signing_key=settings.tokens.signing_key, jwt_audience="other"), token
        )


def test_token_from_another_issuer_is_refused() -> None:
    settings = _settings()
    token = _token(settings)
    verify_access_token(settings, token)
    with pytest.raises(TokenError, match="issuer"):
        verify_access_token(_settings(jwt_signing_key=settings.tokens.signing_key, jwt_issuer="evil"), token)


def test_token_signed_with_another_key_is_refused() -> None:
    settings = _settings()
    token = _token(settings)
    verify_access_token(settings, token)
    with pytest.raises(TokenError, match="signature"):
        verify_access_token(_settings(), token)


def test_unsigned_alg_none_token_is_refused() -> None:
    settings = _settings()
    now = int(time.time())
    claims = {
        "iss": settings.tokens.issuer,
        "aud": settings.tokens.audience,
        "sub": "a",
        "workgroup": "wg",
        "projects": [],
        "iat": now,
        "exp": now + 600,
        "jti": "x" * 32,
    }
    forged = jwt.encode(claims, key=None, algorithm="none")
    with pytest.raises(TokenError, match="algorithm"):
        verify_access_token(settings, forged)


def test_token_missing_the_workgroup_claim_is_refused() -> None:
    settings = _settings()
    now = int(time.time())
    claims = {
        "iss": settings.tokens.issuer,
        "aud": settings.tokens.audience,
        "sub": "a",
        "projects": [],
        "iat": now,
        "exp": now + 600,
        "jti": "x" * 32,
    }
    token = jwt.encode(claims, settings.tokens.signing_key.get_secret_value(), algorithm="HS256")
    with pytest.raises(TokenError, match="workgroup"):
        verify_access_token(settings, token)


def test_garbage_is_refused_as_malformed() -> None:
    with pytest.raises(TokenError, match="malformed"):
        verify_access_token(_settings(), "not-a-jwt")
