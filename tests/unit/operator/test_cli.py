"""`oblivion operator`: its options, and a refusal naming the setting when configuration is missing."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from oblivion_operator.cli import app


def _plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def test_help_lists_namespace_standalone_and_liveness() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    text = _plain(result.output)
    for option in ("--namespace", "--standalone", "--liveness"):
        assert option in text


def test_missing_settings_stop_start_up_with_their_names() -> None:
    env = {"OBLIVION_NEXUS_URL": "", "OBLIVION_ADMIN_TOKEN": "", "OBLIVION_SLACK_BOT_TOKEN": ""}
    result = CliRunner().invoke(
        app, ["--standalone"], env={k: None for k in env} | {"OBLIVION_QDRANT_PATH": "/tmp/q"}
    )
    assert result.exit_code == 2
    assert "OBLIVION_NEXUS_URL: is not set" in _plain(result.output)
    assert "OBLIVION_ADMIN_TOKEN: is not set" in _plain(result.output)
