"""Settings come from OBLIVION_* variables; a missing or conflicting one is named in the error."""

from __future__ import annotations

import pytest

from oblivion_operator.settings import SettingsError, load_settings

REQUIRED = {
    "OBLIVION_NEXUS_URL": "http://nexus:8080",
    "OBLIVION_ADMIN_TOKEN": "adm-secret-token",
    "OBLIVION_SLACK_BOT_TOKEN": "xoxb-secret",
    "OBLIVION_QDRANT_PATH": "/var/lib/oblivion/qdrant",
}


def _env(monkeypatch: pytest.MonkeyPatch, values: dict[str, str]) -> None:
    for key in [*REQUIRED, "OBLIVION_QDRANT_URL", "OBLIVION_EMBEDDING_SIZE", "OBLIVION_NEXUS_POD_LABELS"]:
        monkeypatch.delenv(key, raising=False)
    for key, value in values.items():
        monkeypatch.setenv(key, value)


def test_defaults_match_the_documentation(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, REQUIRED)
    settings = load_settings()
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.embedding_size == 384
    assert settings.agent_nexus_url == "http://nexus:8080"


def test_missing_setting_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, {k: v for k, v in REQUIRED.items() if k != "OBLIVION_ADMIN_TOKEN"})
    with pytest.raises(SettingsError, match="OBLIVION_ADMIN_TOKEN: is not set"):
        load_settings()


def test_qdrant_location_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, {k: v for k, v in REQUIRED.items() if k != "OBLIVION_QDRANT_PATH"})
    with pytest.raises(SettingsError, match="OBLIVION_QDRANT_URL or OBLIVION_QDRANT_PATH must be set"):
        load_settings()


def test_secrets_never_appear_in_the_settings_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, REQUIRED)
    text = repr(load_settings())
    assert "adm-secret-token" not in text
    assert "xoxb-secret" not in text


def test_nexus_pod_labels_are_read_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, {**REQUIRED, "OBLIVION_NEXUS_POD_LABELS": '{"app": "nexus"}'})
    assert load_settings().nexus_pod_labels == {"app": "nexus"}


def test_slack_token_is_optional(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, {k: v for k, v in REQUIRED.items() if k != "OBLIVION_SLACK_BOT_TOKEN"})
    settings = load_settings()
    assert settings.slack_bot_token is None
    assert settings.slack_configured is False


def test_empty_slack_token_from_an_optional_secret_key_means_no_slack(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _env(monkeypatch, {**REQUIRED, "OBLIVION_SLACK_BOT_TOKEN": "  "})
    assert load_settings().slack_configured is False


def test_a_given_slack_token_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, REQUIRED)
    settings = load_settings()
    assert settings.slack_configured is True
    assert settings.slack_bot_token is not None
    assert settings.slack_bot_token.get_secret_value() == "xoxb-secret"
