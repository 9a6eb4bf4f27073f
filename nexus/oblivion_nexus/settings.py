"""Nexus configuration: one typed object in sections, read from ``OBLIVION_*`` environment variables.

Each section (``settings.database``, ``settings.slack``, …) is a small frozen model whose fields name
their variable in ``validation_alias``, so ``OBLIVION_SLACK_BOT_TOKEN`` is found by searching for it,
and a variable keeps its name when its field moves between sections. ``load_settings()`` reads the
environment (or a mapping) once in ``main()`` or the app lifespan, never at import time; tests build
their own from a mapping.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from oblivion_nexus.errors import NexusError
from oblivion_nexus.pricing import parse_price_table
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


class Section(BaseModel):
    """A group of settings; each field's ``validation_alias`` is its environment variable."""

    # Validated by variable name when read from the environment, by field name when code builds one.
    model_config = ConfigDict(frozen=True, extra="forbid", validate_by_alias=True, validate_by_name=True)

    @classmethod
    def variables(cls) -> Iterator[str]:
        for name, field in cls.model_fields.items():
            if not isinstance(field.validation_alias, str):
                raise TypeError(f"{cls.__name__}.{name} names no environment variable")
            yield field.validation_alias


class DatabaseSettings(Section):
    """PostgreSQL, where Nexus keeps tenants, agents, task mappings, credentials and the audit chain."""

    url: str = Field(
        validation_alias="OBLIVION_DATABASE_URL",
        description="URL of PostgreSQL, e.g. postgresql://user:pw@host:5432/oblivion "
        "(`postgresql+psycopg://` and `postgres://` are accepted too; the psycopg 3 driver is used).",
    )
    pool_size: int = Field(
        default=10,
        ge=1,
        le=200,
        validation_alias="OBLIVION_DB_POOL_SIZE",
        description="PostgreSQL connections kept open per Nexus process.",
    )

    @field_validator("url")
    @classmethod
    def _psycopg_url(cls, v: str) -> str:
        return _as_psycopg_url(v)


class RedisSettings(Section):
    """Redis: the webhook queue, agents' inboxes and presence, routing between replicas, rate limits."""

    url: str = Field(
        default="redis://127.0.0.1:6379/0", validation_alias="OBLIVION_REDIS_URL", description="Redis URL."
    )
    prefix: str = Field(
        default="oblivion",
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        validation_alias="OBLIVION_REDIS_PREFIX",
        description="Prefix of every Redis key and channel, so several installations can share a Redis.",
    )


class LoggingSettings(Section):
    """What `oblivion nexus` processes log, and in which shape."""

    level: str = Field(
        default="INFO",
        pattern=_LOG_LEVEL,
        validation_alias="OBLIVION_LOG_LEVEL",
        description=(
            "Log level of `oblivion nexus` processes; `INFO` includes one access line per HTTP "
            "request, written after its response, with its status and duration."
        ),
    )
    format: str = Field(
        default="text",
        pattern=_LOG_FORMAT,
        validation_alias="OBLIVION_LOG_FORMAT",
        description="`text` for people, `json` (one object a line) for log collectors.",
    )


class TracingSettings(Section):
    """OpenTelemetry traces, exported over OTLP/HTTP when an endpoint is set (off, they cost nothing)."""

    endpoint: str = Field(
        default="",
        pattern=r"^(https?://[^\s]+)?$",
        validation_alias="OBLIVION_TRACING_ENDPOINT",
        description="Base URL of an OTLP/HTTP receiver (Jaeger, Tempo, an OpenTelemetry Collector, "
        "Langfuse's OTel endpoint); spans go to `<endpoint>/v1/traces`. Empty: no tracing.",
    )
    service_name: str = Field(
        default="oblivion-nexus",
        min_length=1,
        max_length=128,
        validation_alias="OBLIVION_TRACING_SERVICE_NAME",
        description="`service.name` of the spans this process exports.",
    )


class HttpSettings(Section):
    """The front door: where the API listens, how it is reached, and the largest bodies it reads."""

    host: str = Field(
        default="0.0.0.0",  # noqa: S104
        validation_alias="OBLIVION_HOST",
        description="Address the API listens on.",
    )
    port: int = Field(
        default=8080, ge=1, le=65535, validation_alias="OBLIVION_PORT", description="Port the API listens on."
    )
    public_url: str = Field(
        default="http://localhost:8080",
        validation_alias="OBLIVION_PUBLIC_URL",
        description="URL agents and people reach Nexus at.",
    )
    # Slack and ClickUp send a few kilobytes.
    webhook_max_body_bytes: int = Field(
        default=1_048_576,
        ge=1024,
        le=32 * 1_048_576,
        validation_alias="OBLIVION_WEBHOOK_MAX_BODY_BYTES",
        description="Larger webhook bodies are refused (413).",
    )
    # The largest registry body is a credential: 64 KiB of value, JSON-escaped, plus its config.
    registry_max_body_bytes: int = Field(
        default=512 * 1024,
        ge=1024,
        le=32 * 1_048_576,
        validation_alias="OBLIVION_REGISTRY_MAX_BODY_BYTES",
        description="Larger registry (/internal/v1) bodies are refused (413) before authentication.",
    )
    # A message is at most 40,000 characters (Slack's limit); JSON-escaped that is under 256 KiB.
    agent_max_body_bytes: int = Field(
        default=256 * 1024,
        ge=1024,
        le=32 * 1_048_576,
        validation_alias="OBLIVION_AGENT_MAX_BODY_BYTES",
        description="Larger bodies on agents' routes (/v1/…, but /v1/llm/… has its own limit) and any other "
        "route are refused (413).",
    )
    # A token request is a few hundred bytes.
    token_max_body_bytes: int = Field(
        default=16 * 1024,
        ge=512,
        le=1_048_576,
        validation_alias="OBLIVION_TOKEN_MAX_BODY_BYTES",
        description="Larger /oauth/token bodies are refused (413).",
    )


class SecuritySettings(Section):
    """The operator's key to the registry API, and the key encrypting credentials at rest."""

    admin_token: SecretStr = Field(
        validation_alias="OBLIVION_ADMIN_TOKEN",
        description="Bearer token of the registry API (/internal/v1).",
    )
    master_key: SecretStr = Field(
        validation_alias="OBLIVION_MASTER_KEY",
        description="Base64 of a 32-byte AES-256-GCM key encrypting credentials at rest. "
        "Optionally `keyid:base64`, several separated by commas, first one encrypts.",
    )

    @field_validator("master_key")
    @classmethod
    def _valid_keys(cls, v: SecretStr) -> SecretStr:
        try:
            MasterKeys.parse(v.get_secret_value())
        except CryptoError as e:
            raise ValueError(str(e)) from None  # the message names no key material
        return v


class TokenSettings(Section):
    """Agents' access tokens (OAuth2 client credentials at /oauth/token) and that endpoint's limits."""

    signing_key: SecretStr = Field(
        validation_alias="OBLIVION_JWT_SIGNING_KEY",
        description="HMAC key signing agent access tokens (≥ 32 bytes).",
    )
    issuer: str = Field(
        default="oblivion-nexus", validation_alias="OBLIVION_JWT_ISSUER", description="`iss` of agent tokens."
    )
    audience: str = Field(
        default="oblivion-agents",
        validation_alias="OBLIVION_JWT_AUDIENCE",
        description="`aud` of agent tokens.",
    )
    ttl_seconds: int = Field(
        default=900,
        ge=60,
        le=86400,
        validation_alias="OBLIVION_TOKEN_TTL_SECONDS",
        description="Agent token lifetime.",
    )
    # An agent asks for a token every few minutes; a restart loop of its replicas asks a few times
    # a minute. Thirty failures a minute is far above honest use and far below guessing speed.
    failures_per_client_per_minute: int = Field(
        default=30,
        ge=1,
        le=100_000,
        validation_alias="OBLIVION_TOKEN_FAILURES_PER_CLIENT_PER_MINUTE",
        description="Failed /oauth/token attempts per client id a minute before 429.",
    )
    # One address may front a whole node of agents (NAT, a node's pod network), so it gets more.
    requests_per_address_per_minute: int = Field(
        default=300,
        ge=1,
        le=1_000_000,
        validation_alias="OBLIVION_TOKEN_REQUESTS_PER_ADDRESS_PER_MINUTE",
        description="/oauth/token requests per client address a minute before 429.",
    )

    @field_validator("signing_key")
    @classmethod
    def _long_enough(cls, v: SecretStr) -> SecretStr:
        if len(v.get_secret_value().encode()) < 32:
            raise ValueError("must be at least 32 bytes")
        return v


class GatewaySettings(Section):
    """The agent gateway: WebSocket connections, durable inboxes, and what agents do through /v1/tasks."""

    heartbeat_seconds: float = Field(
        default=30.0,
        gt=0,
        validation_alias="OBLIVION_HEARTBEAT_SECONDS",
        description="Heartbeat interval to agents.",
    )
    inbox_ttl_seconds: int = Field(
        default=7 * 24 * 3600,
        ge=60,
        validation_alias="OBLIVION_INBOX_TTL_SECONDS",
        description="Unacked events older than this expire from an inbox.",
    )
    # An agent Deployment runs a few replicas with one connection each; a reconnect can overlap the
    # old connection for a heartbeat or two. 16 fits 4 replicas x 4 and stops a runaway loop early.
    max_connections_per_agent: int = Field(
        default=16,
        ge=1,
        le=10_000,
        validation_alias="OBLIVION_AGENT_MAX_CONNECTIONS",
        description="Open WebSocket connections one agent may have over every replica; the next "
        "is closed with 4429.",
    )
    mute_seconds: float = Field(
        default=300.0,
        gt=0,
        le=86_400,
        validation_alias="OBLIVION_AGENT_MUTE_SECONDS",
        description="How long an agent over its message limit is muted.",
    )
    stop_words: str = Field(
        default="stop,cancel",
        validation_alias="OBLIVION_AGENT_STOP_WORDS",
        description="Comma-separated words that, as a whole reply in a task's thread or a ClickUp comment "
        "(a mention before them and punctuation after are allowed), stop its agents with TASK_CANCELLED; "
        "empty: none.",
    )
    # Agents retry within seconds or minutes; a day covers a retry after a long outage.
    idempotency_ttl_seconds: int = Field(
        default=86_400,
        ge=60,
        validation_alias="OBLIVION_IDEMPOTENCY_TTL_SECONDS",
        description="How long an Idempotency-Key's first answer is replayed.",
    )


# Slack and ClickUp are optional, so a Nexus without one vendor still starts; the flow that needs a
# missing one raises ``MissingSetting`` naming the variable at the moment it needs it.


class SlackSettings(Section):
    """The Slack app: verifying its deliveries, posting root messages and mirrored replies."""

    signing_secret: SecretStr | None = Field(
        default=None,
        validation_alias="OBLIVION_SLACK_SIGNING_SECRET",
        description="Slack app signing secret verifying POST /webhooks/slack.",
    )
    bot_token: SecretStr | None = Field(
        default=None,
        validation_alias="OBLIVION_SLACK_BOT_TOKEN",
        description="Slack bot token (xoxb-…) posting root messages and mirrored replies.",
    )
    api_url: str = Field(
        default="https://slack.com/api/",
        validation_alias="OBLIVION_SLACK_API_URL",
        description="Base URL of the Slack Web API (a fake in tests).",
    )


class ClickUpSettings(Section):
    """ClickUp: reading tasks, posting comments, and the webhooks Nexus keeps per project."""

    token: SecretStr | None = Field(
        default=None,
        validation_alias="OBLIVION_CLICKUP_TOKEN",
        description="ClickUp API token (pk_…) fetching tasks and posting comments.",
    )
    api_url: str = Field(
        default="https://api.clickup.com/api/v2/",
        validation_alias="OBLIVION_CLICKUP_API_URL",
        description="Base URL of the ClickUp API v2.",
    )
    team_id: str | None = Field(
        default=None,
        validation_alias="OBLIVION_CLICKUP_TEAM_ID",
        description="ClickUp workspace (team) id under which Nexus creates webhooks.",
    )
    webhook_secret: SecretStr | None = Field(
        default=None,
        validation_alias="OBLIVION_CLICKUP_WEBHOOK_SECRET",
        description="Fallback secret verifying ClickUp deliveries of a webhook Nexus did not create.",
    )
    webhook_check_seconds: float = Field(
        default=300.0,
        ge=5,
        validation_alias="OBLIVION_CLICKUP_WEBHOOK_CHECK_SECONDS",
        description="How often the worker checks ClickUp webhooks and catches up.",
    )


class WebhookQueueSettings(Section):
    """The durable queue between the webhook routes and the worker, and the worker consuming it."""

    # Slack retries three times within ~5 minutes and ClickUp five times; a day is far beyond both.
    dedupe_seconds: int = Field(
        default=86_400,
        ge=600,
        validation_alias="OBLIVION_WEBHOOK_DEDUPE_SECONDS",
        description="How long a finished job id is kept to collapse redeliveries.",
    )
    enqueue_timeout_seconds: float = Field(
        default=3.0,
        gt=0,
        le=30,
        validation_alias="OBLIVION_QUEUE_ENQUEUE_TIMEOUT_SECONDS",
        description="A webhook waits this long for Redis before answering 503.",
    )
    attempts: int = Field(
        default=8,
        ge=1,
        le=100,
        validation_alias="OBLIVION_WORKER_ATTEMPTS",
        description="Attempts of a job that fails (exponential backoff).",
    )
    concurrency: int = Field(
        default=8,
        ge=1,
        le=256,
        validation_alias="OBLIVION_WORKER_CONCURRENCY",
        description="Jobs one worker runs at once.",
    )
    # The default of BullMQ is 30 s locks checked every 30 s (a crashed worker's job waits ~60 s);
    # 5 s locks checked every 3 s put it back in the queue within ~10 s.
    lock_seconds: float = Field(
        default=5.0,
        ge=1,
        le=600,
        validation_alias="OBLIVION_WORKER_LOCK_SECONDS",
        description="Lock a worker holds (and renews) on a running job.",
    )
    stalled_check_seconds: float = Field(
        default=3.0,
        ge=0.5,
        le=600,
        validation_alias="OBLIVION_WORKER_STALLED_CHECK_SECONDS",
        description="How often workers look for jobs of crashed workers.",
    )


class MemorySettings(Section):
    """The Memory Bank: where vectors live and what makes them.

    Unset URLs mean the defaults that need no server: Qdrant's engine in process under the data
    directory, and the local ONNX model on the CPU.
    """

    qdrant_url: str | None = Field(
        default=None,
        validation_alias="OBLIVION_MEMORY_QDRANT_URL",
        description="URL of the Qdrant server (e.g. http://qdrant:6333); unset: the embedded engine "
        "under OBLIVION_MEMORY_DATA_DIR, opened by one process (the worker).",
    )
    qdrant_api_key: SecretStr | None = Field(
        default=None, validation_alias="OBLIVION_MEMORY_QDRANT_API_KEY", description="Qdrant API key, if any."
    )
    data_dir: Path = Field(
        default=Path(".oblivion/memory"),
        validation_alias="OBLIVION_MEMORY_DATA_DIR",
        description="Directory of the embedded vector engine's collections.",
    )
    embedding_url: str | None = Field(
        default=None,
        validation_alias="OBLIVION_MEMORY_EMBEDDING_URL",
        description="Base URL of an OpenAI-compatible embeddings API (…/v1: OpenAI, vLLM, Ollama, TEI); "
        "unset: the local model all-MiniLM-L6-v2 (int8, 384 dimensions).",
    )
    embedding_model: str = Field(
        default="text-embedding-3-small",
        min_length=1,
        validation_alias="OBLIVION_MEMORY_EMBEDDING_MODEL",
        description="Model name sent to the endpoint.",
    )
    embedding_dimension: int = Field(
        default=1536,
        ge=1,
        le=16_384,
        validation_alias="OBLIVION_MEMORY_EMBEDDING_DIMENSION",
        description="Vector size the endpoint's model returns.",
    )
    embedding_key: SecretStr | None = Field(
        default=None,
        validation_alias="OBLIVION_MEMORY_EMBEDDING_KEY",
        description="Bearer key of the endpoint.",
    )
    # OpenAI takes 2,048 inputs a request, TEI 32 by default; 32 suits both and every other server.
    embedding_batch_size: int = Field(
        default=32,
        ge=1,
        le=2048,
        validation_alias="OBLIVION_MEMORY_EMBEDDING_BATCH_SIZE",
        description="Texts per request to the embedding endpoint.",
    )
    # Off until it measures better: on the labelled set of bench/memory.py, dense alone scored
    # recall@5 0.991 / MRR@10 0.951 and the fusion 0.972 / 0.922 (project scope).
    hybrid_search: bool = Field(
        default=False,
        validation_alias="OBLIVION_MEMORY_HYBRID_SEARCH",
        description="Fuse keyword matching with vector search (false: vectors only).",
    )
    # Exponential backoff from one second: the 16th attempt comes about 18 hours after the first,
    # so a Qdrant or embedder outage of a night loses nothing.
    ingestion_attempts: int = Field(
        default=16,
        ge=1,
        le=100,
        validation_alias="OBLIVION_MEMORY_INGESTION_ATTEMPTS",
        description="Attempts of a rag-ingestion job whose embedder or vector store fails (exponential "
        "backoff from 1 s).",
    )
    # Jobs waiting together form the embedder's batches (up to 64 texts), so this is at least that.
    ingestion_concurrency: int = Field(
        default=64,
        ge=1,
        le=1024,
        validation_alias="OBLIVION_MEMORY_INGESTION_CONCURRENCY",
        description="rag-ingestion jobs one worker holds at once; their texts are embedded together.",
    )
    search_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=120,
        validation_alias="OBLIVION_MEMORY_SEARCH_TIMEOUT_SECONDS",
        description="How long a search may take (with the embedded engine, the API waits this long for "
        "the worker's answer) before it is answered 503.",
    )


class ToolSettings(Section):
    """The Tool Gateway: how often agents may call tools, how long a call may take, approvals' deadlines."""

    calls_per_minute: int = Field(
        default=120,
        ge=1,
        le=100_000,
        validation_alias="OBLIVION_TOOL_CALLS_PER_MINUTE",
        description="Calls one agent may make to one tool a minute (a token bucket holding a quarter of "
        "that as burst); over it, 429 with Retry-After.",
    )
    timeout_seconds: float = Field(
        default=15.0,
        gt=0,
        le=300,
        validation_alias="OBLIVION_TOOL_TIMEOUT_SECONDS",
        description="How long one upstream call of a tool may take.",
    )
    approval_sweep_seconds: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        validation_alias="OBLIVION_TOOL_APPROVAL_SWEEP_SECONDS",
        description="How often each Nexus process denies approvals past their deadline and tells the agent.",
    )
    audit_synchronous_commit: bool = Field(
        default=True,
        validation_alias="OBLIVION_TOOL_AUDIT_SYNCHRONOUS_COMMIT",
        description="Whether a tool call's answer waits until its audit record is flushed to "
        "PostgreSQL's disk (one WAL flush, the largest part of the latency a call adds on a slow "
        "disk). `false` answers once the record is committed in memory: a PostgreSQL crash can then "
        "lose the last records (about three `wal_writer_delay`s, 0.6 s by default); a Nexus crash "
        "loses none. The chain stays whole either way.",
    )


class ModelSettings(Section):
    """The model gateway: prices of models, where the providers are, how long a call may take."""

    prices: str = Field(
        default="",
        validation_alias="OBLIVION_MODEL_PRICES",
        description="US$ per million input/output tokens by model, e.g. "
        "`gpt-4o-mini=0.15/0.60,claude-sonnet-4=3/15`; a model not listed costs 0 and is counted as "
        "unpriced.",
    )
    openai_url: str = Field(
        default="https://api.openai.com/v1",
        pattern=r"^https?://[^\s]+$",
        validation_alias="OBLIVION_MODEL_OPENAI_URL",
        description="Base URL of OpenAI's API, for `openai` credentials without a `baseUrl`.",
    )
    anthropic_url: str = Field(
        default="https://api.anthropic.com/v1",
        pattern=r"^https?://[^\s]+$",
        validation_alias="OBLIVION_MODEL_ANTHROPIC_URL",
        description="Base URL of Anthropic's API, for `anthropic` credentials without a `baseUrl`.",
    )
    timeout_seconds: float = Field(
        default=600.0,
        gt=0,
        le=3600,
        validation_alias="OBLIVION_MODEL_TIMEOUT_SECONDS",
        description="How long one model call may take (a long completion streams for minutes).",
    )
    max_connections: int = Field(
        default=200,
        ge=1,
        le=10_000,
        validation_alias="OBLIVION_MODEL_MAX_CONNECTIONS",
        description="Connections the gateway keeps to model providers, all agents together.",
    )
    # A long conversation with tool results is megabytes of JSON; the agents' default would cut it.
    max_body_bytes: int = Field(
        default=8 * 1_048_576,
        ge=1024,
        le=64 * 1_048_576,
        validation_alias="OBLIVION_MODEL_MAX_BODY_BYTES",
        description="Larger chat requests to /v1/llm/… are refused (413) while they are read.",
    )

    @field_validator("prices")
    @classmethod
    def _parses(cls, v: str) -> str:
        parse_price_table(v)  # a malformed entry is named (never a secret: prices only)
        return v


class SectionedSettings(BaseModel):
    """Settings made of sections, read from one flat mapping of variables."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @classmethod
    def sections(cls) -> Iterator[tuple[str, type[Section]]]:
        """Each section's attribute name and model, in declaration order."""
        for name, field in cls.model_fields.items():
            section = field.annotation
            if not (isinstance(section, type) and issubclass(section, Section)):
                raise TypeError(f"{cls.__name__}.{name} is not a Section")
            yield name, section

    @classmethod
    def from_variables(cls, variables: Mapping[str, object]) -> Self:
        """Validate ``OBLIVION_*`` variables (names matched case-insensitively); others are ignored.

        Raises :class:`SettingsError` naming every missing or malformed variable, never a value.
        """
        by_name = {name.upper(): value for name, value in variables.items()}
        data = {
            name: {var: by_name[var] for var in section.variables() if var in by_name}
            for name, section in cls.sections()
        }
        try:
            return cls.model_validate(data)
        except ValidationError as e:
            raise SettingsError(describe_invalid_settings(e, "Nexus")) from None


class NexusSettings(SectionedSettings):
    """Everything `oblivion nexus serve|worker` reads, section by section."""

    database: DatabaseSettings
    redis: RedisSettings = Field(default_factory=RedisSettings)
    security: SecuritySettings
    tokens: TokenSettings
    http: HttpSettings = Field(default_factory=HttpSettings)
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
    queue: WebhookQueueSettings = Field(default_factory=WebhookQueueSettings)
    slack: SlackSettings = Field(default_factory=SlackSettings)
    clickup: ClickUpSettings = Field(default_factory=ClickUpSettings)
    memory: MemorySettings = Field(default_factory=MemorySettings)
    tools: ToolSettings = Field(default_factory=ToolSettings)
    models: ModelSettings = Field(default_factory=ModelSettings)
    tracing: TracingSettings = Field(default_factory=TracingSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)


class MigrationSettings(SectionedSettings):
    """The subset ``oblivion nexus migrate`` needs, so a migration job holds no other secret."""

    database: DatabaseSettings
    logging: LoggingSettings = Field(default_factory=LoggingSettings)


def load_settings(variables: Mapping[str, object] | None = None) -> NexusSettings:
    """Nexus settings from ``variables`` (the environment by default); :class:`SettingsError` names
    every bad variable."""
    return NexusSettings.from_variables(os.environ if variables is None else variables)


def load_migration_settings(variables: Mapping[str, object] | None = None) -> MigrationSettings:
    return MigrationSettings.from_variables(os.environ if variables is None else variables)
