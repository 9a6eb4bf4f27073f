"""Agent runtime configuration, read from the ``OBLIVION_*`` variables the operator mounts.

Built when an agent starts (``load_settings()``), never at import time; tests construct their own.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from oblivion_agent._errors import ConfigurationError
from oblivion_agent.protocol import HEARTBEAT_INTERVAL_SECONDS
from oblivion_settings import describe_invalid_settings


class AgentSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OBLIVION_", extra="ignore", frozen=True)

    nexus_url: str = Field(description="Base URL of Nexus, e.g. http://nexus.oblivion-system:8080.")
    client_id: str = Field(min_length=1, description="OAuth2 client id of this agent.")
    client_secret: SecretStr = Field(description="OAuth2 client secret of this agent.")
    backoff_base_seconds: float = Field(
        default=0.5, gt=0, description="First reconnect delay bound; doubles with every failed attempt."
    )
    backoff_cap_seconds: float = Field(default=30.0, gt=0, description="Largest reconnect delay bound.")
    # A connection that lived this long was not a flapping one: the next failure starts backoff anew.
    backoff_reset_after_seconds: float = Field(
        default=10.0, ge=0, description="Connection age after which the reconnect backoff is reset."
    )
    heartbeat_seconds: float = Field(
        default=HEARTBEAT_INTERVAL_SECONDS,
        gt=0,
        description="Heartbeat interval; Nexus silent for two of them is treated as dead.",
    )
    max_concurrent_handlers: int = Field(default=8, ge=1, description="Handlers running at the same time.")
    # Kubernetes waits 30 s between SIGTERM and SIGKILL by default; leave room to close the socket.
    shutdown_grace_seconds: float = Field(
        default=25.0, ge=0, description="How long running handlers may finish after SIGTERM."
    )
    seen_events_capacity: int = Field(
        default=10_000, ge=1, description="How many handled event ids are remembered to drop duplicates."
    )

    @field_validator("nexus_url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/")

    @model_validator(mode="after")
    def _cap_above_base(self) -> AgentSettings:
        if self.backoff_cap_seconds < self.backoff_base_seconds:
            raise ValueError("OBLIVION_BACKOFF_CAP_SECONDS must not be below OBLIVION_BACKOFF_BASE_SECONDS")
        return self

    @property
    def token_url(self) -> str:
        return f"{self.nexus_url}/oauth/token"

    @property
    def connect_url(self) -> str:
        scheme, rest = self.nexus_url.split("://", 1)
        return f"{'wss' if scheme == 'https' else 'ws'}://{rest}/v1/agents/connect"


def load_settings() -> AgentSettings:
    """Read settings from the environment; a problem raises one error naming every bad variable."""
    try:
        return AgentSettings()  # required fields come from the environment
    except ValidationError as e:
        raise ConfigurationError(describe_invalid_settings(e, "agent")) from None
