"""``oblivion nexus migrate`` and ``serve`` as processes: the deployed start-up path and its refusals."""

from __future__ import annotations

import secrets
import signal

import httpx

from tests.secret_logs import SecretRegistry
from tests.support.nexus import nexus_process
from tests.support.processes import run_oblivion


def test_migrate_then_serve_answers_ready(
    nexus_env: dict[str, str], fresh_postgres_url: str, secret_registry: SecretRegistry
) -> None:
    env = {**nexus_env, "OBLIVION_DATABASE_URL": fresh_postgres_url}
    with nexus_process(env) as nexus:
        secret_registry.add_log_file(nexus.log_path)
        ready = httpx.get(nexus.url + "/readyz", timeout=10)
        alive = httpx.get(nexus.url + "/healthz", timeout=10)
    assert alive.status_code == 200
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"status": "ready", "checks": {"postgres": "ok", "redis": "ok", "memory": "ok"}}
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status still reports it
    assert nexus.process.returncode in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in nexus.output()


def test_served_process_at_debug_logs_no_secret_of_a_full_flow(
    nexus_env: dict[str, str], fresh_postgres_url: str, secret_registry: SecretRegistry
) -> None:
    env = {
        **nexus_env,
        "OBLIVION_DATABASE_URL": fresh_postgres_url,
        "OBLIVION_LOG_LEVEL": "DEBUG",
        "OBLIVION_LOG_FORMAT": "json",
    }
    client_secret, value = secrets.token_urlsafe(32), "xoxb-" + secrets.token_urlsafe(24)
    secret_registry.add(client_secret, value)
    with nexus_process(env) as nexus, httpx.Client(base_url=nexus.url, timeout=10) as client:
        secret_registry.add_log_file(nexus.log_path)
        admin = nexus.admin_headers()
        client.put("/internal/v1/workgroups/wg1", json={}, headers=admin).raise_for_status()
        agent = {"clientId": "wg1-bot", "clientSecret": client_secret}
        client.put("/internal/v1/workgroups/wg1/agents/bot", json=agent, headers=admin).raise_for_status()
        cred = {"type": "slack-bot-token", "value": value}
        client.put(
            "/internal/v1/workgroups/wg1/credentials/slack", json=cred, headers=admin
        ).raise_for_status()
        token = client.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=("wg1-bot", client_secret)
        )
        secret_registry.add(token.json()["access_token"])
        wrong = {"Authorization": "Bearer " + nexus_env["OBLIVION_ADMIN_TOKEN"][::-1]}
        assert client.get("/internal/v1/workgroups/wg1", headers=wrong).status_code == 401
    output = nexus.output()
    assert '"level": "DEBUG"' in output or '"level": "INFO"' in output  # JSON lines were written
    for secret in (client_secret, value, token.json()["access_token"], nexus_env["OBLIVION_ADMIN_TOKEN"]):
        assert secret not in output


def test_migrate_needs_only_the_database_url_and_is_repeatable(fresh_postgres_url: str) -> None:
    env = {"OBLIVION_DATABASE_URL": fresh_postgres_url.replace("postgresql+psycopg://", "postgresql://")}
    first = run_oblivion("nexus", "migrate", env=env)
    second = run_oblivion("nexus", "migrate", env=env)
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert "database schema at revision" in first.stdout
    assert first.stdout == second.stdout


def test_serve_refuses_an_unmigrated_database_and_says_to_migrate(
    nexus_env: dict[str, str], fresh_postgres_url: str
) -> None:
    env = {**nexus_env, "OBLIVION_DATABASE_URL": fresh_postgres_url}
    with nexus_process(env, migrate=False, ready=False) as nexus:
        code = nexus.process.wait(60)
        output = nexus.output()
    assert code == 3
    assert "has no Nexus schema" in output
    assert "oblivion nexus migrate" in output


def test_serve_without_a_required_setting_names_it_and_exits_2(nexus_env: dict[str, str]) -> None:
    env = {k: v for k, v in nexus_env.items() if k != "OBLIVION_ADMIN_TOKEN"}
    result = run_oblivion("nexus", "serve", env=env)
    assert result.returncode == 2
    assert "OBLIVION_ADMIN_TOKEN: is not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_with_a_malformed_setting_names_it_without_echoing_it(
    nexus_env: dict[str, str], secret_registry: SecretRegistry
) -> None:
    bad_key = "k1:c2hvcnQta2V5LW9mLXRlc3Q="  # valid base64, but not 32 bytes
    secret_registry.add(bad_key)
    result = run_oblivion("nexus", "serve", env={**nexus_env, "OBLIVION_MASTER_KEY": bad_key})
    assert result.returncode == 2
    assert "OBLIVION_MASTER_KEY" in result.stderr
    assert "32 bytes" in result.stderr
    assert bad_key not in result.stderr + result.stdout


def test_migrate_without_a_database_url_names_it(nexus_env: dict[str, str]) -> None:
    result = run_oblivion("nexus", "migrate", env={})
    assert result.returncode == 2
    assert "OBLIVION_DATABASE_URL: is not set" in result.stderr


def test_migrate_against_an_unreachable_database_fails_readably() -> None:
    env = {"OBLIVION_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none"}
    result = run_oblivion("nexus", "migrate", env=env)
    assert result.returncode == 3
    assert result.stderr.startswith("migration failed")


def test_help_lists_the_nexus_commands_without_any_setting() -> None:
    root = run_oblivion("--help", env={})
    nexus = run_oblivion("nexus", "--help", env={})
    assert root.returncode == 0, root.stderr
    assert "nexus" in root.stdout
    assert nexus.returncode == 0, nexus.stderr
    for command in ("serve", "migrate", "reseal-credentials"):
        assert command in nexus.stdout
