"""Operator configuration: one typed object read from ``OBLIVION_*`` environment variables.

Built once when ``oblivion operator`` starts (never at import time); tests construct their own.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from oblivion_operator.errors import OperatorError
from oblivion_settings import describe_invalid_settings


class SettingsError(OperatorError):
    """A setting is missing or malformed; the message names the environment variable."""


class OperatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OBLIVION_", extra="ignore", frozen=True)

    nexus_url: str = Field(description="Base URL of Nexus's registry API, e.g. http://nexus.oblivion:8080.")
    admin_token: SecretStr = Field(description="Bearer token of Nexus's registry API (/internal/v1).")
    qdrant_url: str | None = Field(default=None, description="URL of the Qdrant server.")
    qdrant_path: str | None = Field(
        default=None, description="Directory of the embedded (local) Qdrant store, used when no URL is set."
    )
    qdrant_api_key: SecretStr | None = Field(default=None, description="API key of the Qdrant server.")
    slack_api_url: str = Field(default="https://slack.com/api/", description="Base URL of Slack's Web API.")
    slack_bot_token: SecretStr | None = Field(
        default=None,
        description="Slack bot token (xoxb-…) creating and archiving channels; without one, Workgroups "
        "and Projects are reconciled without a channel (condition SlackChannel=False).",
    )
    agent_image: str = Field(
        default="ghcr.io/oblivion-dev/oblivion-agent:0.1.0",
        description="Image of agent Deployments whose Agent does not name one.",
    )
    embedding_size: int = Field(default=384, ge=1, le=65536, description="Vector size of collections.")
    nexus_namespace: str = Field(default="oblivion", description="Namespace Nexus runs in.")
    nexus_pod_labels: dict[str, str] = Field(
        default={"app.kubernetes.io/name": "oblivion", "app.kubernetes.io/component": "nexus"},
        description="Labels of Nexus pods (JSON object), for NetworkPolicy egress rules.",
    )
    nexus_port: int = Field(default=8080, ge=1, le=65535, description="Port of Nexus pods.")
    nexus_agent_url: str | None = Field(
        default=None,
        description="URL agents connect to (OBLIVION_NEXUS_URL in agent pods); NEXUS_URL if unset.",
    )
    drift_interval_seconds: float = Field(
        default=300.0, gt=0, description="How often each resource is checked for drift and repaired."
    )
    presence_interval_seconds: float = Field(
        default=30.0, gt=0, description="How often Agent status is refreshed from Nexus presence."
    )
    retry_delay_seconds: float = Field(
        default=10.0, gt=0, description="Delay before retrying after Nexus, Qdrant or Kubernetes failed."
    )
    nexus_cleanup_timeout_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="How long after a Project is marked for deletion the operator keeps retrying Nexus "
        "(dropping its memory under retentionPolicy Delete, then unregistering it) before it lets the "
        "Project go, leaving both in Nexus and saying so in an Event.",
    )

    @field_validator("slack_bot_token", mode="before")
    @classmethod
    def _blank_is_unset(cls, v: object) -> object:
        # the chart passes an optional Secret key; an empty value means "no Slack", not a bad token
        return None if isinstance(v, str) and not v.strip() else v

    @model_validator(mode="after")
    def _one_qdrant(self) -> OperatorSettings:
        if not self.qdrant_url and not self.qdrant_path:
            raise ValueError("OBLIVION_QDRANT_URL or OBLIVION_QDRANT_PATH must be set")
        return self

    @property
    def slack_configured(self) -> bool:
        return self.slack_bot_token is not None

    @property
    def agent_nexus_url(self) -> str:
        return self.nexus_agent_url or self.nexus_url


def load_settings() -> OperatorSettings:
    """Read settings from the environment, turning validation errors into one readable message."""
    try:
        return OperatorSettings()  # fields come from the environment
    except ValidationError as e:
        raise SettingsError(describe_invalid_settings(e, "operator")) from None
