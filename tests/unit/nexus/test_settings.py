"""Nexus settings: every missing or malformed variable is named, and nothing secret is echoed."""

from __future__ import annotations

import base64
import secrets

import pytest

from oblivion_nexus.settings import SettingsError, load_database_settings, load_settings

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
    assert settings.database_url == "postgresql+psycopg://postgres@127.0.0.1:5432/oblivion"
    assert settings.token_ttl_seconds == 900
    assert settings.port == 8080


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
    assert load_settings().log_level == "debug"


def test_migration_settings_need_only_the_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ADMIN_TOKEN", "JWT_SIGNING_KEY", "MASTER_KEY"):
        monkeypatch.delenv(f"OBLIVION_{name}", raising=False)
    monkeypatch.setenv("OBLIVION_DATABASE_URL", "postgres://u@h/db")
    assert load_database_settings().database_url == "postgresql+psycopg://u@h/db"
    monkeypatch.delenv("OBLIVION_DATABASE_URL")
    with pytest.raises(SettingsError, match="OBLIVION_DATABASE_URL: is not set"):
        load_database_settings()


def test_master_key_with_a_repeated_key_id_is_refused_at_start_up(env: pytest.MonkeyPatch) -> None:
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    env.setenv("OBLIVION_MASTER_KEY", f"k1:{key},k1:{key}")
    with pytest.raises(SettingsError, match=r"OBLIVION_MASTER_KEY: .*appears twice") as caught:
        load_settings()
    assert key not in str(caught.value)
