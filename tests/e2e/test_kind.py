"""End to end on a real Kind cluster: `make up`, a custom resource becomes Ready, a signed webhook lands.

Needs a Docker engine and `kind` (kubectl and helm come from tests/tools/k8s_binaries when they are
not installed); where one is missing the test is skipped with that reason. Like a newcomer's `make up`
it needs no Slack workspace: without OBLIVION_SLACK_BOT_TOKEN the examples become Ready with the
SlackChannel condition False (SlackNotConfigured); with a test workspace's token their channels are
made there. The cluster is `oblivion-e2e` (host port 8080 must be free) and is deleted
afterwards unless OBLIVION_E2E_KEEP=1.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.fakes import clickup_payloads as clickup
from tests.tools.k8s_binaries import helm_path, kubectl_path

REPO = Path(__file__).resolve().parents[2]
CLUSTER = "oblivion-e2e"
CONTEXT = f"kind-{CLUSTER}"
NEXUS = "http://localhost:8080"


def _docker_engine_problem() -> str | None:
    if shutil.which("kind") is None:
        return "`kind` is not installed (https://kind.sigs.k8s.io/docs/user/quick-start/#installation)"
    if shutil.which("docker") is None:
        return "no `docker` CLI: the Kind end-to-end test needs a Docker engine"
    info = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30, check=False)
    if info.returncode != 0:
        return "no Docker engine is running (`docker info` failed): the Kind end-to-end test needs one"
    return None


pytestmark = [
    pytest.mark.kind,
    pytest.mark.timeout(3600),
]


@pytest.fixture(scope="module")
def kind_cluster() -> Iterator[dict[str, str]]:
    problem = _docker_engine_problem()
    if problem:
        pytest.skip(problem)
    webhook_secret = secrets.token_hex(16)
    env = {
        **os.environ,
        "KIND_CLUSTER": CLUSTER,
        "KUBECTL": shutil.which("kubectl") or str(kubectl_path()),
        "HELM": shutil.which("helm") or str(helm_path()),
        "OBLIVION_CLICKUP_WEBHOOK_SECRET": webhook_secret,
        "OBLIVION_CLICKUP_TEAM_ID": "9012345678",
    }
    try:
        subprocess.run(["make", "up"], cwd=REPO, env=env, check=True, timeout=3000)
        yield {**env, "webhook_secret": webhook_secret}
    finally:
        if os.environ.get("OBLIVION_E2E_KEEP") != "1":
            subprocess.run(["make", "down"], cwd=REPO, env=env, check=False, timeout=600)


def _kubectl(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [env["KUBECTL"], "--context", CONTEXT, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, f"kubectl {' '.join(args)}:\n{result.stderr}"
    return result.stdout


def test_make_up_brings_every_example_to_ready(kind_cluster: dict[str, str]) -> None:
    listing = yaml.safe_load(_kubectl(kind_cluster, "get", "oblivion", "--all-namespaces", "-o", "yaml"))
    items: list[dict[str, Any]] = listing["items"]
    assert {i["kind"] for i in items} >= {"Workgroup", "Project", "Agent", "ToolCredential"}
    for item in items:
        ready = [c for c in item["status"]["conditions"] if c["type"] == "Ready"]
        assert ready, f"{item['metadata']['name']} has no Ready condition"
        assert ready[0]["status"] == "True", item["metadata"]["name"]
        if item["kind"] in ("Workgroup", "Project"):
            slack = [c for c in item["status"]["conditions"] if c["type"] == "SlackChannel"]
            assert slack, f"{item['metadata']['name']} has no SlackChannel condition"
            if os.environ.get("OBLIVION_SLACK_BOT_TOKEN"):
                assert slack[0]["status"] == "True", slack[0]
            else:
                assert (slack[0]["status"], slack[0]["reason"]) == ("False", "SlackNotConfigured")


def test_an_applied_project_becomes_ready(kind_cluster: dict[str, str]) -> None:
    project = yaml.safe_load((REPO / "examples" / "project.yaml").read_text())
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    project["metadata"]["name"] = name
    project["spec"]["clickup"]["listId"] = str(900000000000 + int(time.time()) % 100000000)
    project["spec"].pop("slack", None)
    project["spec"]["retentionPolicy"] = "Delete"  # archive its channel when the test deletes it
    namespace = project["metadata"]["namespace"]
    _kubectl(kind_cluster, "apply", "-f", "-", stdin=yaml.safe_dump(project))
    _kubectl(
        kind_cluster, "-n", namespace, "wait", "--for=condition=Ready", f"project/{name}", "--timeout=300s"
    )
    _kubectl(kind_cluster, "-n", namespace, "delete", f"project/{name}", "--wait=true")


def test_a_signed_clickup_webhook_is_accepted_and_an_unsigned_one_refused(
    kind_cluster: dict[str, str],
) -> None:
    author = clickup.DEFAULT_USER
    list_id = yaml.safe_load((REPO / "examples" / "project.yaml").read_text())["spec"]["clickup"]["listId"]
    body = clickup.compact_json(
        clickup.webhook_payload(
            "taskCreated",
            task_id=f"86{uuid.uuid4().hex[:6]}",
            webhook_id=str(uuid.uuid4()),
            history_items=clickup.creation_history_items(list_id, "to do", author),
        )
    )
    signature = hmac.new(kind_cluster["webhook_secret"].encode(), body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json"}
    deadline = time.monotonic() + 120
    while True:  # the NodePort may need a moment after the rollout to answer on the host
        try:
            accepted = httpx.post(
                f"{NEXUS}/webhooks/clickup", content=body, headers={**headers, "X-Signature": signature}
            )
            break
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(2)
    assert accepted.status_code == 200, accepted.text
    refused = httpx.post(
        f"{NEXUS}/webhooks/clickup", content=body, headers={**headers, "X-Signature": "0" * 64}
    )
    assert refused.status_code in (401, 403), refused.text


def test_an_upgrade_keeps_the_generated_keys(kind_cluster: dict[str, str]) -> None:
    def secret_data() -> dict[str, str]:
        raw = _kubectl(kind_cluster, "-n", "oblivion", "get", "secret", "oblivion-secrets", "-o", "yaml")
        data: dict[str, str] = yaml.safe_load(raw)["data"]
        return data

    before = secret_data()
    upgrade = subprocess.run(
        [kind_cluster["HELM"], "upgrade", "oblivion", str(REPO / "charts" / "oblivion"),
         "--kube-context", CONTEXT, "--namespace", "oblivion", "--reuse-values", "--timeout", "600s"],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert upgrade.returncode == 0, upgrade.stderr
    assert secret_data() == before
