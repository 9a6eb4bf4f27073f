"""`make up`'s script needs nothing but Docker, kind, kubectl and helm: no Slack token, no other secret.

The four tools are stand-ins that record how they were called (and what the values files passed to
helm held), so the script's own logic runs without a Docker engine.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "scripts" / "kind-up.sh"
RECORDER = """#!/usr/bin/env bash
# records "<tool> <args>"; for helm also the content of every --values file (deleted after the run)
echo "$(basename "$0") $*" >>"$CALLS"
if [ "$(basename "$0")" = helm ]; then
  while [ $# -gt 0 ]; do
    if [ "$1" = --values ]; then echo "--- $2" >>"$CALLS"; cat "$2" >>"$CALLS"; fi
    shift
  done
fi
exit 0
"""


def _run_kind_up(tmp_path: Path, extra_env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], str]:
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in ("docker", "kind", "kubectl", "helm"):
        (tools / tool).write_text(RECORDER)
        (tools / tool).chmod(0o755)
    calls = tmp_path / "calls.log"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("OBLIVION_", "KIND", "DOCKER", "KUBECTL", "HELM"))
    }
    env |= {
        "CALLS": str(calls),
        "DOCKER": str(tools / "docker"),
        "KIND": str(tools / "kind"),
        "KUBECTL": str(tools / "kubectl"),
        "HELM": str(tools / "helm"),
        **extra_env,
    }
    result = subprocess.run(
        ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    return result, calls.read_text() if calls.exists() else ""


def test_make_up_runs_to_the_end_without_a_slack_token(tmp_path: Path) -> None:
    result, calls = _run_kind_up(tmp_path, {})
    assert result.returncode == 0, result.stderr
    assert "helm upgrade --install oblivion charts/oblivion" in calls
    assert "slackBotToken" not in calls
    assert "no OBLIVION_SLACK_BOT_TOKEN was given" in result.stdout
    assert "SlackNotConfigured" in result.stdout


def test_a_given_slack_token_reaches_the_chart_through_a_values_file_not_the_command_line(
    tmp_path: Path,
) -> None:
    token = "xoxb-test-1234567890"
    result, calls = _run_kind_up(tmp_path, {"OBLIVION_SLACK_BOT_TOKEN": token})
    assert result.returncode == 0, result.stderr
    assert f'slackBotToken: "{token}"' in calls
    helm_lines = [line for line in calls.splitlines() if line.startswith("helm ")]
    assert helm_lines
    assert all(token not in line for line in helm_lines)
    assert token not in result.stdout + result.stderr
    assert "channels are created with the bot token" in result.stdout
