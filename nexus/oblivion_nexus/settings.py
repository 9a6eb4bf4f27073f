"""Nexus configuration: one typed object read from ``OBLIVION_*`` environment variables.

Built once in ``main()`` or the app lifespan, never at import time; tests construct their own.
"""

from __future__ import annotations

import base64
import binascii

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SettingsError(Exception):
    """A setting is missing or malformed; the message names the environment variable."""


class NexusSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OBLIVION_", extra="ignore", frozen=True)

    database_url: str = Field(
        description="SQLAlchemy URL of PostgreSQL, e.g. postgresql+psycopg://user:pw@host:5432/oblivion."
    )
    redis_url: str = Field(default="redis://127.0.0.1:6379/0", description="Redis URL.")
    redis_prefix: str = Field(
        default="oblivion",
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="Prefix of every Redis key and channel, so several installations can share a Redis.",
    )
    admin_token: SecretStr = Field(description="Bearer token of the registry API (/internal/v1).")
    jwt_signing_key: SecretStr = Field(description="HMAC key signing agent access tokens (≥ 32 bytes).")
    jwt_issuer: str = Field(default="oblivion-nexus", description="`iss` of agent tokens.")
    jwt_audience: str = Field(default="oblivion-agents", description="`aud` of agent tokens.")
    token_ttl_seconds: int = Field(default=900, ge=60, le=86400, description="Agent token lifetime.")
    master_key: SecretStr = Field(
        description="Base64 of a 32-byte AES-256-GCM key encrypting credentials at rest. "
        "Optionally `keyid:base64`, several separated by commas, first one encrypts."
    )
    host: str = Field(default="0.0.0.0", description="Address the API listens on.")  # noqa: S104
    port: int = Field(default=8080, ge=1, le=65535, description="Port the API listens on.")
    public_url: str = Field(
        default="http://localhost:8080", description="URL agents and people reach Nexus at."
    )
    heartbeat_seconds: float = Field(default=30.0, gt=0, description="Heartbeat interval to agents.")
    inbox_ttl_seconds: int = Field(
        default=7 * 24 * 3600, ge=60, description="Unacked events older than this expire from an inbox."
    )
    log_level: str = Field(default="INFO", description="Log level of `oblivion nexus` processes.")

    @field_validator("jwt_signing_key")
    @classmethod
    def _long_enough(cls, v: SecretStr) -> SecretStr:
        if len(v.get_secret_value().encode()) < 32:
            raise ValueError("must be at least 32 bytes")
        return v

    @field_validator("master_key")
    @classmethod
    def _valid_keys(cls, v: SecretStr) -> SecretStr:
        for entry in v.get_secret_value().split(","):
            _key_id, _, b64 = entry.strip().rpartition(":")
            try:
                raw = base64.b64decode(b64, validate=True)
            except (binascii.Error, ValueError) as e:
                raise ValueError("must be base64 (optionally prefixed `keyid:`)") from e
            if len(raw) != 32:
                raise ValueError("each key must decode to 32 bytes")
        return v


def load_settings() -> NexusSettings:
    """Read settings from the environment, turning validation errors into one readable message."""
    try:
        return NexusSettings()  # fields come from the environment
    except ValidationError as e:
        problems = []
        for err in e.errors():
            name = "OBLIVION_" + "_".join(str(p) for p in err["loc"]).upper()
            problems.append(f"{name}: {'is not set' if err['type'] == 'missing' else err['msg']}")
        raise SettingsError("invalid Nexus settings:\n  " + "\n  ".join(problems)) from None
