"""Rotating the master key: old ciphertexts keep opening, resealing moves them to the new key."""

from __future__ import annotations

import base64
import secrets
import uuid

import httpx

from oblivion_nexus.services.registry.credentials import open_credential
from oblivion_nexus.stores.crypto import MasterKeys
from oblivion_nexus.stores.db import create_engine, create_sessionmaker
from tests.secret_logs import SecretRegistry
from tests.support.nexus import migrate_database, nexus_settings, running_nexus
from tests.support.processes import run_oblivion


async def _open(database_url: str, keys: MasterKeys, wg: str, name: str) -> str | None:
    engine = create_engine(database_url, pool_size=1)
    try:
        async with create_sessionmaker(engine)() as session:
            return await open_credential(session, keys, wg, name)
    finally:
        await engine.dispose()


async def test_credential_survives_a_master_key_rotation(
    nexus_env: dict[str, str], fresh_postgres_url: str, secret_registry: SecretRegistry
) -> None:
    nexus_env = {**nexus_env, "OBLIVION_DATABASE_URL": fresh_postgres_url}
    old_key = nexus_env["OBLIVION_MASTER_KEY"]  # "k1:…"
    new_raw = base64.b64encode(secrets.token_bytes(32)).decode()
    secret_registry.add(new_raw)
    value = "ghp_" + secrets.token_urlsafe(30)
    secret_registry.add(value)
    wg = f"wg-{uuid.uuid4().hex[:8]}"
    settings = nexus_settings(nexus_env)
    migrate_database(settings.database.url)
    async with (
        running_nexus(settings) as nexus,
        httpx.AsyncClient(base_url=nexus.url + "/internal/v1") as client,
    ):
        headers = nexus.admin_headers()
        assert (await client.put(f"/workgroups/{wg}", json={}, headers=headers)).status_code == 201
        body = {"type": "github-token", "value": value}
        stored = await client.put(f"/workgroups/{wg}/credentials/github", json=body, headers=headers)
    assert stored.json()["keyId"] == "k1"

    rotated = nexus_settings(nexus_env, master_key=f"k2:{new_raw},{old_key}")
    rotated_keys = MasterKeys.parse(rotated.security.master_key.get_secret_value())
    async with (
        running_nexus(rotated) as nexus,
        httpx.AsyncClient(base_url=nexus.url + "/internal/v1") as client,
    ):
        fetched = await client.get(f"/workgroups/{wg}/credentials/github", headers=nexus.admin_headers())
    assert fetched.json()["keyId"] == "k1"  # still sealed under the old key …
    assert await _open(settings.database.url, rotated_keys, wg, "github") == value  # … and opens

    env = {**nexus_env, "OBLIVION_MASTER_KEY": f"k2:{new_raw},{old_key}"}
    result = run_oblivion("nexus", "reseal-credentials", env=env)
    assert result.returncode == 0, result.stderr
    assert "under master key k2" in result.stdout
    assert value not in result.stdout + result.stderr

    only_new = MasterKeys.parse(f"k2:{new_raw}")
    assert await _open(settings.database.url, only_new, wg, "github") == value
    again = run_oblivion("nexus", "reseal-credentials", env=env)
    assert again.returncode == 0, again.stderr


async def test_reseal_leaves_a_credential_no_key_opens_and_names_it(
    nexus_env: dict[str, str], fresh_postgres_url: str, secret_registry: SecretRegistry
) -> None:
    nexus_env = {**nexus_env, "OBLIVION_DATABASE_URL": fresh_postgres_url}
    value = secrets.token_urlsafe(24)
    secret_registry.add(value)
    settings = nexus_settings(nexus_env)
    migrate_database(fresh_postgres_url)
    async with (
        running_nexus(settings) as nexus,
        httpx.AsyncClient(base_url=nexus.url + "/internal/v1") as client,
    ):
        headers = nexus.admin_headers()
        await client.put("/workgroups/wg1", json={}, headers=headers)
        assert (
            await client.put(
                "/workgroups/wg1/credentials/c1", json={"type": "t", "value": value}, headers=headers
            )
        ).is_success

    lost_old_key = base64.b64encode(secrets.token_bytes(32)).decode()
    secret_registry.add(lost_old_key)
    result = run_oblivion(
        "nexus", "reseal-credentials", env={**nexus_env, "OBLIVION_MASTER_KEY": f"k9:{lost_old_key}"}
    )
    assert result.returncode == 1
    assert "wg1/c1" in result.stderr
    keys = MasterKeys.parse(settings.security.master_key.get_secret_value())
    assert await _open(fresh_postgres_url, keys, "wg1", "c1") == value  # nothing lost
