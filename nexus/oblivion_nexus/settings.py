"""Nexus configuration: one typed object read from ``OBLIVION_*`` environment variables.

Built once in ``main()`` or the app lifespan, never at import time; tests construct their own.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from oblivion_nexus.errors import NexusError
from oblivion_nexus.stores.crypto import CryptoError, MasterKeys
from oblivion_settings import describe_invalid_settings


class SettingsError(NexusError):
    """A setting is missing or malformed; the message names the environment variable."""


_LOG_LEVEL = r"^(?i:DEBUG|INFO|WARNING|ERROR|CRITICAL)$"
_LOG_FORMAT = r"^(text|json)$"


def _as_psycopg_url(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in {"postgres", "postgresql", "postgresql+psycopg"}:
        raise ValueError("must be a PostgreSQL URL such as postgresql://user:pw@host:5432/oblivion")
    return f"postgresql+psycopg://{rest}"


class NexusSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OBLIVION_", extra="ignore", frozen=True)

    database_url: str = Field(
        description="URL of PostgreSQL, e.g. postgresql://user:pw@host:5432/oblivion "
        "(`postgresql+psycopg://` and `postgres://` are accepted too; the psycopg 3 driver is used)."
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
    log_level: str = Field(
        default="INFO",
        pattern=_LOG_LEVEL,
        description="Log level of `oblivion nexus` processes.",
    )
    log_format: str = Field(
        default="text",
        pattern=_LOG_FORMAT,
        description="`text` for people, `json` (one object a line) for log collectors.",
    )
    db_pool_size: int = Field(
        default=10, ge=1, le=200, description="PostgreSQL connections kept open per Nexus process."
    )
    # -- Memory Bank: where vectors live and what makes them -----------------------------------
    # Unset URLs mean the defaults that need no server: Qdrant's engine in process under the data
    # directory, and the local ONNX model on the CPU.
    memory_qdrant_url: str | None = Field(
        default=None,
        description="URL of the Qdrant server (e.g. http://qdrant:6333); unset: the embedded engine "
        "under OBLIVION_MEMORY_DATA_DIR, opened by one process (the worker).",
    )
    memory_qdrant_api_key: SecretStr | None = Field(default=None, description="Qdrant API key, if any.")
    memory_data_dir: Path = Field(
        default=Path(".oblivion/memory"), description="Directory of the embedded vector engine's collections."
    )
    memory_embedding_url: str | None = Field(
        default=None,
        description="Base URL of an OpenAI-compatible embeddings API (…/v1: OpenAI, vLLM, Ollama, TEI); "
        "unset: the local model all-MiniLM-L6-v2 (int8, 384 dimensions).",
    )
    memory_embedding_model: str = Field(
        default="text-embedding-3-small", min_length=1, description="Model name sent to the endpoint."
    )
    memory_embedding_dimension: int = Field(
        default=1536, ge=1, le=16_384, description="Vector size the endpoint's model returns."
    )
    memory_embedding_key: SecretStr | None = Field(default=None, description="Bearer key of the endpoint.")
    # OpenAI takes 2,048 inputs a request, TEI 32 by default; 32 suits both and every other server.
    memory_embedding_batch_size: int = Field(
        default=32, ge=1, le=2048, description="Texts per request to the embedding endpoint."
    )
    # Off until it measures better: on the labelled set of bench/memory.py, dense alone scored
    # recall@5 0.991 / MRR@10 0.951 and the fusion 0.972 / 0.922 (project scope).
    memory_hybrid_search: bool = Field(
        default=False, description="Fuse keyword matching with vector search (false: vectors only)."
    )

    # -- issue 5: what agents do through /v1/tasks ----------------------------------------------
    agent_mute_seconds: float = Field(
        default=300.0, gt=0, le=86_400, description="How long an agent over its message limit is muted."
    )
    # Agents retry within seconds or minutes; a day covers a retry after a long outage.
    idempotency_ttl_seconds: int = Field(
        default=86_400, ge=60, description="How long an Idempotency-Key's first answer is replayed."
    )
    # -- issue 5: Slack and ClickUp, the webhook queue and its worker ---------------------------
    # Optional, so a Nexus without one vendor still starts; the flow that needs a missing one
    # raises ``MissingSetting`` naming the variable at the moment it needs it.
    slack_signing_secret: SecretStr | None = Field(
        default=None, description="Slack app signing secret verifying POST /webhooks/slack."
    )
    slack_bot_token: SecretStr | None = Field(
        default=None, description="Slack bot token (xoxb-…) posting root messages and mirrored replies."
    )
    slack_api_url: str = Field(
        default="https://slack.com/api/", description="Base URL of the Slack Web API (a fake in tests)."
    )
    clickup_token: SecretStr | None = Field(
        default=None, description="ClickUp API token (pk_…) fetching tasks and posting comments."
    )
    clickup_api_url: str = Field(
        default="https://api.clickup.com/api/v2/", description="Base URL of the ClickUp API v2."
    )
    clickup_team_id: str | None = Field(
        default=None, description="ClickUp workspace (team) id under which Nexus creates webhooks."
    )
    clickup_webhook_secret: SecretStr | None = Field(
        default=None,
        description="Fallback secret verifying ClickUp deliveries of a webhook Nexus did not create.",
    )
    webhook_max_body_bytes: int = Field(
        default=1_048_576, ge=1024, le=32 * 1_048_576, description="Larger webhook bodies are refused (413)."
    )
    # Slack retries three times within ~5 minutes and ClickUp five times; a day is far beyond both.
    webhook_dedupe_seconds: int = Field(
        default=86_400, ge=600, description="How long a finished job id is kept to collapse redeliveries."
    )
    queue_enqueue_timeout_seconds: float = Field(
        default=3.0, gt=0, le=30, description="A webhook waits this long for Redis before answering 503."
    )
    worker_concurrency: int = Field(default=8, ge=1, le=256, description="Jobs one worker runs at once.")
    # The default of BullMQ is 30 s locks checked every 30 s (a crashed worker's job waits ~60 s);
    # 5 s locks checked every 3 s put it back in the queue within ~10 s.
    worker_lock_seconds: float = Field(
        default=5.0, ge=1, le=600, description="Lock a worker holds (and renews) on a running job."
    )
    worker_stalled_check_seconds: float = Field(
        default=3.0, ge=0.5, le=600, description="How often workers look for jobs of crashed workers."
    )
    worker_attempts: int = Field(
        default=8, ge=1, le=100, description="Attempts of a job that fails (exponential backoff)."
    )
    clickup_webhook_check_seconds: float = Field(
        default=300.0, ge=5, description="How often the worker checks ClickUp webhooks and catches up."
    )

    # -- agent identity and the gateway's limits ------------------------------------------------
    # An agent Deployment runs a few replicas with one connection each; a reconnect can overlap the
    # old connection for a heartbeat or two. 16 fits 4 replicas x 4 and stops a runaway loop early.
    agent_max_connections: int = Field(
        default=16,
        ge=1,
        le=10_000,
        description="Open WebSocket connections one agent may have over every replica; the next "
        "is closed with 4429.",
    )

    # -- the front door: body limits and the token endpoint's rate limit ------------------------
    # (webhooks use OBLIVION_WEBHOOK_MAX_BODY_BYTES above; Slack and ClickUp send a few kilobytes)
    # The largest registry body is a credential: 64 KiB of value, JSON-escaped, plus its config.
    registry_max_body_bytes: int = Field(
        default=512 * 1024,
        ge=1024,
        le=32 * 1_048_576,
        description="Larger registry (/internal/v1) bodies are refused (413) before authentication.",
    )
    # A message is at most 40,000 characters (Slack's limit); JSON-escaped that is under 256 KiB.
    agent_max_body_bytes: int = Field(
        default=256 * 1024,
        ge=1024,
        le=32 * 1_048_576,
        description="Larger bodies on agents' routes (/v1/…) and any other route are refused (413).",
    )
    # A token request is a few hundred bytes.
    token_max_body_bytes: int = Field(
        default=16 * 1024, ge=512, le=1_048_576, description="Larger /oauth/token bodies are refused (413)."
    )
    # An agent asks for a token every few minutes; a restart loop of its replicas asks a few times
    # a minute. Thirty failures a minute is far above honest use and far below guessing speed.
    token_failures_per_client_per_minute: int = Field(
        default=30,
        ge=1,
        le=100_000,
        description="Failed /oauth/token attempts per client id a minute before 429.",
    )
    # One address may front a whole node of agents (NAT, a node's pod network), so it gets more.
    token_requests_per_address_per_minute: int = Field(
        default=300,
        ge=1,
        le=1_000_000,
        description="/oauth/token requests per client address a minute before 429.",
    )
    # -- Tool Gateway ---------------------------------------------------------------------------
    tool_calls_per_minute: int = Field(
        default=120,
        ge=1,
        le=100_000,
        description="Calls one agent may make to one tool a minute (a token bucket holding a quarter of "
        "that as burst); over it, 429 with Retry-After.",
    )
    tool_timeout_seconds: float = Field(
        default=15.0, gt=0, le=300, description="How long one upstream call of a tool may take."
    )
    tool_approval_sweep_seconds: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="How often each Nexus process denies approvals past their deadline and tells the agent.",
    )

    @field_validator("database_url")
    @classmethod
    def _psycopg_url(cls, v: str) -> str:
        return _as_psycopg_url(v)

    @field_validator("jwt_signing_key")
    @classmethod
    def _long_enough(cls, v: SecretStr) -> SecretStr:
        if len(v.get_secret_value().encode()) < 32:
            raise ValueError("must be at least 32 bytes")
        return v

    @field_validator("master_key")
    @classmethod
    def _valid_keys(cls, v: SecretStr) -> SecretStr:
        try:
            MasterKeys.parse(v.get_secret_value())
        except CryptoError as e:
            raise ValueError(str(e)) from None  # the message names no key material
        return v


def _readable(e: ValidationError) -> SettingsError:
    return SettingsError(describe_invalid_settings(e, "Nexus"))


def load_settings() -> NexusSettings:
    """Read settings from the environment, turning validation errors into one readable message."""
    try:
        return NexusSettings()  # fields come from the environment
    except ValidationError as e:
        raise _readable(e) from None


class DatabaseSettings(BaseSettings):
    """The subset ``oblivion nexus migrate`` needs, so a migration job holds no other secret."""

    model_config = SettingsConfigDict(env_prefix="OBLIVION_", extra="ignore", frozen=True)

    database_url: str = Field(description="As ``NexusSettings.database_url``.")
    log_level: str = Field(default="INFO", pattern=_LOG_LEVEL, description="As ``NexusSettings.log_level``.")
    log_format: str = Field(
        default="text", pattern=_LOG_FORMAT, description="As ``NexusSettings.log_format``."
    )

    @field_validator("database_url")
    @classmethod
    def _psycopg_url(cls, v: str) -> str:
        return _as_psycopg_url(v)


def load_database_settings() -> DatabaseSettings:
    try:
        return DatabaseSettings()  # fields come from the environment
    except ValidationError as e:
        raise _readable(e) from None
