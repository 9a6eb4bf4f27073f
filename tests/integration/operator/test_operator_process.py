"""`oblivion operator` as a process, exactly as deployed: kubeconfig login, liveness, clean SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.controlplane import Cluster
from tests.fakes.slack import FakeSlack
from tests.secret_logs import SecretRegistry
from tests.support.operator import ready
from tests.support.servers import free_port


def test_operator_command_reconciles_against_the_kubeconfig_cluster_and_stops_on_sigterm(
    cluster: Cluster, operator_nexus: Any, slack: FakeSlack, tmp_path: Path, secret_registry: SecretRegistry
) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OBLIVION_")}
    env.update(
        {
            "KUBECONFIG": str(cluster.operator_kubeconfig_path),
            "OBLIVION_NEXUS_URL": operator_nexus.url,
            "OBLIVION_ADMIN_TOKEN": operator_nexus.env["OBLIVION_ADMIN_TOKEN"],
            "OBLIVION_QDRANT_PATH": str(tmp_path / "qdrant"),
            "OBLIVION_SLACK_API_URL": slack.url + "/api/",
            "OBLIVION_SLACK_BOT_TOKEN": slack.bot_token,
        }
    )
    log_path = tmp_path / "operator.log"
    secret_registry.add(slack.bot_token)
    secret_registry.add_log_file(log_path)
    command = [str(Path(sys.executable).parent / "oblivion"), "operator", "--standalone"]
    command += ["--liveness", f"http://127.0.0.1:{port}/healthz"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        cluster.create(
            {
                "apiVersion": "oblivion.dev/v1alpha1",
                "kind": "Workgroup",
                "metadata": {"name": "wg-process"},
                "spec": {"slack": {"channelName": "wg-process"}},
            }
        )
        cluster.wait_for_object("workgroups", "wg-process", condition=ready, timeout=60)

        def live() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        cluster.wait_for(live, timeout=30, message="liveness endpoint answers")
    finally:
        process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        code = process.wait(30)
    assert code == 0, log_path.read_text()
    assert time.monotonic() - started < 30
    assert "Created namespace wg-wg-process" in log_path.read_text()


def test_operator_command_starts_without_a_slack_token_and_says_so_once(
    cluster: Cluster, operator_nexus: Any, slack: FakeSlack, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OBLIVION_")}
    env.update(
        {
            "KUBECONFIG": str(cluster.operator_kubeconfig_path),
            "OBLIVION_NEXUS_URL": operator_nexus.url,
            "OBLIVION_ADMIN_TOKEN": operator_nexus.env["OBLIVION_ADMIN_TOKEN"],
            "OBLIVION_QDRANT_PATH": str(tmp_path / "qdrant"),
            "OBLIVION_SLACK_API_URL": slack.url + "/api/",
            "OBLIVION_SLACK_BOT_TOKEN": "",  # what an absent optional Secret key may leave behind
        }
    )
    log_path = tmp_path / "operator.log"
    command = [str(Path(sys.executable).parent / "oblivion"), "operator", "--standalone"]
    command += ["--liveness", f"http://127.0.0.1:{free_port()}/healthz"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        cluster.create(
            {
                "apiVersion": "oblivion.dev/v1alpha1",
                "kind": "Workgroup",
                "metadata": {"name": "wg-no-slack"},
                "spec": {"slack": {"channelName": "wg-no-slack"}},
            }
        )
        workgroup = cluster.wait_for_object("workgroups", "wg-no-slack", condition=ready, timeout=60)
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(30)
    text = log_path.read_text()
    assert code == 0, text
    slack_conditions = [c for c in workgroup["status"]["conditions"] if c["type"] == "SlackChannel"]
    assert [(c["status"], c["reason"]) for c in slack_conditions] == [("False", "SlackNotConfigured")]
    assert text.count("No Slack bot token") == 1
    assert slack.calls == []
