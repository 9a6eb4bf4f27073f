"""The ClickUp webhook secret cache: known secrets are kept for minutes, unknown ids for seconds."""

from __future__ import annotations

from oblivion_nexus.services.taskflow.webhooks import WebhookSecretCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_known_secret_is_remembered_until_it_expires() -> None:
    clock = Clock()
    cache = WebhookSecretCache(clock)
    cache.put("w1", "s3cr3t-value")
    clock.now += WebhookSecretCache.KNOWN_SECONDS - 1
    assert cache.get("w1") == (True, "s3cr3t-value")
    clock.now += 2
    assert cache.get("w1") == (False, None)


def test_unknown_webhook_is_asked_again_after_a_few_seconds() -> None:
    clock = Clock()
    cache = WebhookSecretCache(clock)
    cache.put("new", None)
    assert cache.get("new") == (True, None)
    clock.now += WebhookSecretCache.UNKNOWN_SECONDS + 0.1
    assert cache.get("new") == (False, None)
