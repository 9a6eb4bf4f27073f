"""Nexus settings: every missing or malformed variable is named, and nothing secret is echoed."""

from __future__ import annotations

import base64
import secrets

import pytest

from oblivion_nexus.settings import NexusSettings, SettingsError, load_migration_settings, load_settings

_VALID = {
    "OBLIVION_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/oblivion",
    "OBLIVION_ADMIN_TOKEN": "adm-" + secrets.token_urlsafe(16),
    "OBLIVION_JWT_SIGNING_KEY": secrets.token_urlsafe(48),
    "OBLIVION_MASTER_KEY": "k1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("DATABASE_URL", "ADMIN_TOKEN", "JWT_SIGNING_KEY", "MASTER_KEY", "LOG_LEVEL", "PORT"):
        monkeypatch.delenv(f"OBLIVION_{name}", raising=False)
    for name, value in _VALID.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def test_valid_environment_loads_with_documented_defaults(env: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert settings.database.url == "postgresql+psycopg://postgres@127.0.0.1:5432/oblivion"
    assert settings.tokens.ttl_seconds == 900
    assert settings.http.port == 8080


@pytest.mark.parametrize("name", ["OBLIVION_DATABASE_URL", "OBLIVION_ADMIN_TOKEN", "OBLIVION_MASTER_KEY"])
def test_missing_setting_is_named(env: pytest.MonkeyPatch, name: str) -> None:
    env.delenv(name)
    with pytest.raises(SettingsError, match=f"{name}: is not set"):
        load_settings()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("OBLIVION_JWT_SIGNING_KEY", "too-short", "at least 32 bytes"),
        ("OBLIVION_MASTER_KEY", "k1:%%%", "base64"),
        ("OBLIVION_DATABASE_URL", "mysql://db/x", "PostgreSQL URL"),
        ("OBLIVION_PORT", "70000", "OBLIVION_PORT"),
        ("OBLIVION_LOG_LEVEL", "LOUD", "OBLIVION_LOG_LEVEL"),
    ],
)
def test_malformed_setting_is_named_without_its_value(
    env: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    env.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert name in str(caught.value)
    assert message in str(caught.value)
    if name in {"OBLIVION_JWT_SIGNING_KEY", "OBLIVION_MASTER_KEY"}:
        assert value not in str(caught.value)


def test_log_level_is_case_insensitive(env: pytest.MonkeyPatch) -> None:
    env.setenv("OBLIVION_LOG_LEVEL", "debug")
    assert load_settings().logging.level == "debug"


def test_migration_settings_need_only_the_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ADMIN_TOKEN", "JWT_SIGNING_KEY", "MASTER_KEY"):
        monkeypatch.delenv(f"OBLIVION_{name}", raising=False)
    monkeypatch.setenv("OBLIVION_DATABASE_URL", "postgres://u@h/db")
    assert load_migration_settings().database.url == "postgresql+psycopg://u@h/db"
    monkeypatch.delenv("OBLIVION_DATABASE_URL")
    with pytest.raises(SettingsError, match="OBLIVION_DATABASE_URL: is not set"):
        load_migration_settings()


def test_master_key_with_a_repeated_key_id_is_refused_at_start_up(env: pytest.MonkeyPatch) -> None:
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    env.setenv("OBLIVION_MASTER_KEY", f"k1:{key},k1:{key}")
    with pytest.raises(SettingsError, match=r"OBLIVION_MASTER_KEY: .*appears twice") as caught:
        load_settings()
    assert key not in str(caught.value)


# Deployments (the chart, ConfigMaps, .env files) name these; grouping the settings renamed none.
VARIABLES = {
    "OBLIVION_DATABASE_URL",
    "OBLIVION_DB_POOL_SIZE",
    "OBLIVION_REDIS_URL",
    "OBLIVION_REDIS_PREFIX",
    "OBLIVION_ADMIN_TOKEN",
    "OBLIVION_MASTER_KEY",
    "OBLIVION_LOG_LEVEL",
    "OBLIVION_LOG_FORMAT",
    "OBLIVION_JWT_SIGNING_KEY",
    "OBLIVION_JWT_ISSUER",
    "OBLIVION_JWT_AUDIENCE",
    "OBLIVION_TOKEN_TTL_SECONDS",
    "OBLIVION_TOKEN_FAILURES_PER_CLIENT_PER_MINUTE",
    "OBLIVION_TOKEN_REQUESTS_PER_ADDRESS_PER_MINUTE",
    "OBLIVION_HOST",
    "OBLIVION_PORT",
    "OBLIVION_PUBLIC_URL",
    "OBLIVION_WEBHOOK_MAX_BODY_BYTES",
    "OBLIVION_REGISTRY_MAX_BODY_BYTES",
    "OBLIVION_AGENT_MAX_BODY_BYTES",
    "OBLIVION_TOKEN_MAX_BODY_BYTES",
    "OBLIVION_HEARTBEAT_SECONDS",
    "OBLIVION_INBOX_TTL_SECONDS",
    "OBLIVION_AGENT_MAX_CONNECTIONS",
    "OBLIVION_AGENT_MUTE_SECONDS",
    "OBLIVION_AGENT_STOP_WORDS",
    "OBLIVION_IDEMPOTENCY_TTL_SECONDS",
    "OBLIVION_SLACK_SIGNING_SECRET",
    "OBLIVION_SLACK_BOT_TOKEN",
    "OBLIVION_SLACK_API_URL",
    "OBLIVION_CLICKUP_TOKEN",
    "OBLIVION_CLICKUP_API_URL",
    "OBLIVION_CLICKUP_TEAM_ID",
    "OBLIVION_CLICKUP_WEBHOOK_SECRET",
    "OBLIVION_CLICKUP_WEBHOOK_CHECK_SECONDS",
    "OBLIVION_WEBHOOK_DEDUPE_SECONDS",
    "OBLIVION_QUEUE_ENQUEUE_TIMEOUT_SECONDS",
    "OBLIVION_WORKER_ATTEMPTS",
    "OBLIVION_WORKER_CONCURRENCY",
    "OBLIVION_WORKER_LOCK_SECONDS",
    "OBLIVION_WORKER_STALLED_CHECK_SECONDS",
    "OBLIVION_MEMORY_QDRANT_URL",
    "OBLIVION_MEMORY_QDRANT_API_KEY",
    "OBLIVION_MEMORY_DATA_DIR",
    "OBLIVION_MEMORY_EMBEDDING_URL",
    "OBLIVION_MEMORY_EMBEDDING_MODEL",
    "OBLIVION_MEMORY_EMBEDDING_DIMENSION",
    "OBLIVION_MEMORY_EMBEDDING_KEY",
    "OBLIVION_MEMORY_EMBEDDING_BATCH_SIZE",
    "OBLIVION_MEMORY_HYBRID_SEARCH",
    "OBLIVION_MEMORY_INGESTION_ATTEMPTS",
    "OBLIVION_MEMORY_INGESTION_CONCURRENCY",
    "OBLIVION_MEMORY_SEARCH_TIMEOUT_SECONDS",
    "OBLIVION_TOOL_CALLS_PER_MINUTE",
    "OBLIVION_TOOL_TIMEOUT_SECONDS",
    "OBLIVION_TOOL_APPROVAL_SWEEP_SECONDS",
    "OBLIVION_TOOL_AUDIT_SYNCHRONOUS_COMMIT",
    "OBLIVION_MODEL_PRICES",
    "OBLIVION_MODEL_OPENAI_URL",
    "OBLIVION_MODEL_ANTHROPIC_URL",
    "OBLIVION_MODEL_TIMEOUT_SECONDS",
    "OBLIVION_MODEL_MAX_CONNECTIONS",
    "OBLIVION_MODEL_MAX_BODY_BYTES",
    "OBLIVION_TRACING_ENDPOINT",
    "OBLIVION_TRACING_SERVICE_NAME",
}


def test_every_variable_keeps_its_name_and_belongs_to_one_section() -> None:
    read = [variable for _, section in NexusSettings.sections() for variable in section.variables()]
    assert len(read) == len(set(read))
    assert set(read) == VARIABLES


def test_each_variable_reaches_its_section(env: pytest.MonkeyPatch) -> None:
    env.setenv("OBLIVION_DB_POOL_SIZE", "3")
    env.setenv("OBLIVION_AGENT_MAX_CONNECTIONS", "4")
    env.setenv("OBLIVION_WORKER_ATTEMPTS", "5")
    env.setenv("oblivion_memory_hybrid_search", "true")  # names are matched whatever their case
    settings = load_settings()
    assert settings.database.pool_size == 3
    assert settings.gateway.max_connections_per_agent == 4
    assert settings.queue.attempts == 5
    assert settings.memory.hybrid_search is True


def test_settings_read_from_a_mapping_ignore_the_environment(env: pytest.MonkeyPatch) -> None:
    env.setenv("OBLIVION_PORT", "9999")
    settings = load_settings({**_VALID, "OBLIVION_PORT": "8081", "OBLIVION_UNKNOWN": "ignored"})
    assert settings.http.port == 8081
