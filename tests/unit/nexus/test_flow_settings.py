"""The issue-5 settings: optional vendors, documented defaults, a clear error when one is needed."""

from __future__ import annotations

import base64
import os
import secrets

import pytest

from oblivion_nexus.resources import clickup_client, slack_client
from oblivion_nexus.services.taskflow.errors import MissingSetting
from oblivion_nexus.settings import SettingsError, load_settings

_VALID = {
    "OBLIVION_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/oblivion",
    "OBLIVION_ADMIN_TOKEN": "adm-" + secrets.token_urlsafe(16),
    "OBLIVION_JWT_SIGNING_KEY": secrets.token_urlsafe(48),
    "OBLIVION_MASTER_KEY": "k1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith("OBLIVION_"):
            monkeypatch.delenv(name)
    for name, value in _VALID.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def test_nexus_starts_without_slack_or_clickup_and_uses_the_public_api_urls(env: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert settings.slack.api_url == "https://slack.com/api/"
    assert settings.clickup.api_url == "https://api.clickup.com/api/v2/"
    assert slack_client(settings) is None
    assert clickup_client(settings) is None
    assert settings.queue.lock_seconds == 5.0
    assert settings.queue.stalled_check_seconds == 3.0


def test_a_missing_vendor_setting_is_named_when_it_is_needed() -> None:
    error = MissingSetting("OBLIVION_SLACK_BOT_TOKEN", "post in Slack")
    assert "OBLIVION_SLACK_BOT_TOKEN" in str(error)
    assert error.variable == "OBLIVION_SLACK_BOT_TOKEN"


def test_a_bad_queue_setting_is_named(env: pytest.MonkeyPatch) -> None:
    env.setenv("OBLIVION_WORKER_CONCURRENCY", "0")
    with pytest.raises(SettingsError, match="OBLIVION_WORKER_CONCURRENCY"):
        load_settings()


def test_secrets_are_not_shown_in_the_settings_repr(env: pytest.MonkeyPatch) -> None:
    env.setenv("OBLIVION_SLACK_SIGNING_SECRET", "sign-" + "x" * 20)
    env.setenv("OBLIVION_CLICKUP_TOKEN", "pk_" + "y" * 20)
    shown = repr(load_settings())
    assert "x" * 20 not in shown
    assert "y" * 20 not in shown
