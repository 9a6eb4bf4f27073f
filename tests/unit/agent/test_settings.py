from __future__ import annotations

import pytest

from oblivion_agent import ConfigurationError, load_settings


def test_settings_are_read_from_oblivion_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBLIVION_NEXUS_URL", "https://nexus.example.com/")
    monkeypatch.setenv("OBLIVION_CLIENT_ID", "ai-backend")
    monkeypatch.setenv("OBLIVION_CLIENT_SECRET", "very-secret-value")
    monkeypatch.setenv("OBLIVION_BACKOFF_CAP_SECONDS", "10")
    settings = load_settings()
    assert settings.client_id == "ai-backend"
    assert settings.client_secret.get_secret_value() == "very-secret-value"
    assert settings.backoff_cap_seconds == 10
    assert settings.token_url == "https://nexus.example.com/oauth/token"
    assert settings.connect_url == "wss://nexus.example.com/v1/agents/connect"
    assert "very-secret-value" not in repr(settings)


def test_plain_http_nexus_is_reached_over_plain_websocket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBLIVION_NEXUS_URL", "http://nexus:8080")
    monkeypatch.setenv("OBLIVION_CLIENT_ID", "a")
    monkeypatch.setenv("OBLIVION_CLIENT_SECRET", "b")
    assert load_settings().connect_url == "ws://nexus:8080/v1/agents/connect"


def test_missing_settings_are_named_in_one_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OBLIVION_NEXUS_URL", "OBLIVION_CLIENT_ID", "OBLIVION_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    message = str(caught.value)
    for name in ("OBLIVION_NEXUS_URL", "OBLIVION_CLIENT_ID", "OBLIVION_CLIENT_SECRET"):
        assert f"{name}: is not set" in message


def test_malformed_settings_name_the_variable_and_never_echo_the_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OBLIVION_NEXUS_URL", "nexus:8080")
    monkeypatch.setenv("OBLIVION_CLIENT_ID", "a")
    monkeypatch.setenv("OBLIVION_CLIENT_SECRET", "hush-hush")
    monkeypatch.setenv("OBLIVION_BACKOFF_BASE_SECONDS", "-1")
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    assert "OBLIVION_NEXUS_URL: Value error, must start with http:// or https://" in str(caught.value)
    assert "OBLIVION_BACKOFF_BASE_SECONDS" in str(caught.value)
    assert "hush-hush" not in str(caught.value)


def test_a_cap_below_the_base_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBLIVION_NEXUS_URL", "http://nexus")
    monkeypatch.setenv("OBLIVION_CLIENT_ID", "a")
    monkeypatch.setenv("OBLIVION_CLIENT_SECRET", "b")
    monkeypatch.setenv("OBLIVION_BACKOFF_BASE_SECONDS", "5")
    monkeypatch.setenv("OBLIVION_BACKOFF_CAP_SECONDS", "1")
    with pytest.raises(ConfigurationError, match="OBLIVION_BACKOFF_CAP_SECONDS must not be below"):
        load_settings()
