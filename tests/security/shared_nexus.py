"""One ``oblivion nexus serve`` per test module of the security suite: an attack module starts its
server once (start-up costs seconds), with its own Redis prefix and the run's shared database."""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import redis

from tests.support.nexus import NexusProcess, nexus_process


def security_env(postgres_url: str, redis_url: str, secret_registry: Any) -> dict[str, str]:
    """Like the ``nexus_env`` fixture, for module-scoped servers; secrets are registered for the
    end-of-run log check."""
    admin_token, signing_key = "adm-" + secrets.token_urlsafe(24), secrets.token_urlsafe(48)
    master_key = base64.b64encode(secrets.token_bytes(32)).decode()
    slack_secret = secrets.token_hex(16)
    secret_registry.add(admin_token, signing_key, master_key, slack_secret)
    return {
        "OBLIVION_DATABASE_URL": postgres_url,
        "OBLIVION_REDIS_URL": redis_url,
        "OBLIVION_REDIS_PREFIX": f"oblivion-test-{uuid.uuid4().hex[:12]}",
        "OBLIVION_ADMIN_TOKEN": admin_token,
        "OBLIVION_JWT_SIGNING_KEY": signing_key,
        "OBLIVION_MASTER_KEY": "k1:" + master_key,
        "OBLIVION_SLACK_SIGNING_SECRET": slack_secret,
    }


@contextmanager
def security_nexus(env: Mapping[str, str], secret_registry: Any) -> Iterator[NexusProcess]:
    """A served Nexus whose log joins the secret check; its Redis keys are deleted afterwards."""
    with nexus_process(env) as proc:
        secret_registry.add_log_file(proc.log_path)
        yield proc
    client = redis.Redis.from_url(env["OBLIVION_REDIS_URL"])
    try:
        keys = list(client.scan_iter(match=f"{env['OBLIVION_REDIS_PREFIX']}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
