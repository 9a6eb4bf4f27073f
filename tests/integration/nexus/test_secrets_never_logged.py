"""Secrets never reach a log line: the session-wide check works, and the riskiest paths stay clean.

The whole-suite check lives in ``tests/secret_logs.py``; these tests prove it detects a leak and
drive the paths where a secret is most likely to slip out (failed logins, bad bodies) at DEBUG.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from pathlib import Path

import httpx
import pytest

from tests.secret_logs import SecretRegistry, _Capture
from tests.support.nexus import migrate_database, nexus_settings, running_nexus


def test_the_check_finds_a_secret_in_a_log_record() -> None:
    registry = SecretRegistry()
    secret = secrets.token_urlsafe(16)
    registry.add(secret)
    capture = _Capture()
    logger = logging.getLogger("tests.secret_check_probe")
    logger.addHandler(capture)
    logger.propagate = False  # this deliberate leak stays out of the real logs
    try:
        logger.error("connecting with %s", secret)
        logger.error("harmless line")
    finally:
        logger.removeHandler(capture)
        logger.propagate = True
    leaks = registry.leaks(capture.lines)
    assert len(leaks) == 1
    assert secret not in leaks[0]  # the report itself must not print the secret
    assert "connecting with [SECRET]" in leaks[0]


def test_the_check_reads_subprocess_log_files(tmp_path: Path) -> None:
    registry = SecretRegistry()
    secret = secrets.token_urlsafe(16)
    registry.add(secret)
    log = tmp_path / "nexus.log"
    log.write_text(f"INFO something\nDEBUG token={secret}\n")
    registry.add_log_file(log)
    assert len(registry.leaks([])) == 1


def test_too_short_secrets_are_refused_by_the_registry() -> None:
    with pytest.raises(ValueError, match="characters"):
        SecretRegistry().add("abc")


async def test_failed_logins_and_rejected_bodies_log_no_secret(
    nexus_env: dict[str, str], secret_registry: SecretRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = nexus_settings(nexus_env)
    migrate_database(settings.database.url)
    wrong_admin, client_secret, wrong_secret = (secrets.token_urlsafe(24) for _ in range(3))
    credential_value = "sk-" + secrets.token_urlsafe(24)
    secret_registry.add(wrong_admin, client_secret, wrong_secret, credential_value)
    wg = f"wg-{uuid.uuid4().hex[:8]}"
    async with running_nexus(settings) as nexus, httpx.AsyncClient(base_url=nexus.url) as client:
        admin = nexus.admin_headers()
        await client.get(f"/internal/v1/workgroups/{wg}", headers={"Authorization": f"Bearer {wrong_admin}"})
        await client.put(f"/internal/v1/workgroups/{wg}", json={}, headers=admin)
        agent = {"clientId": f"c-{wg}", "clientSecret": client_secret}
        await client.put(f"/internal/v1/workgroups/{wg}/agents/a1", json=agent, headers=admin)
        await client.put(f"/internal/v1/workgroups/{wg}/agents/a1", json={**agent, "bogus": 1}, headers=admin)
        cred = {"type": "bearer", "value": credential_value}
        await client.put(f"/internal/v1/workgroups/{wg}/credentials/c1", json=cred, headers=admin)
        await client.put(f"/internal/v1/workgroups/{wg}/credentials/c1", json={**cred, "x": 1}, headers=admin)
        refused = await client.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=(f"c-{wg}", wrong_secret)
        )
        granted = await client.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=(f"c-{wg}", client_secret)
        )
    token = granted.json()["access_token"]
    secret_registry.add(token)
    assert refused.status_code == 401
    assert caplog.records  # the paths above did log
    logged = caplog.text
    for value in (wrong_admin, client_secret, wrong_secret, credential_value, token):
        assert value not in logged
