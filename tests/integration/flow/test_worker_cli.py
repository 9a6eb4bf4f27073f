"""``oblivion nexus worker`` refuses to start without its settings or on an unmigrated database."""

from __future__ import annotations

from tests.support.processes import run_oblivion


def test_worker_without_settings_exits_2_naming_the_variable() -> None:
    result = run_oblivion("nexus", "worker", env={}, timeout=60)
    assert result.returncode == 2
    assert "OBLIVION_DATABASE_URL" in result.stderr


def test_worker_on_an_unmigrated_database_exits_3(nexus_env: dict[str, str], fresh_postgres_url: str) -> None:
    result = run_oblivion("nexus", "worker", env={**nexus_env, "OBLIVION_DATABASE_URL": fresh_postgres_url})
    assert result.returncode == 3
    assert "migrate" in result.stderr
