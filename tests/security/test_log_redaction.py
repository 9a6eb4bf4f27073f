"""Secrets never reach a log line, even at ``OBLIVION_LOG_LEVEL=DEBUG`` where uvicorn and websockets
print every handshake header: a canary grep across the logs of every Nexus process (``nexus serve``
and ``nexus worker``) after an agent logs in, connects with its token in the ``Authorization`` header
and in the query string, calls the REST API, and a webhook reaches the worker.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from oblivion_nexus.observability import AccessTokenRedactor
from oblivion_nexus.services.taskflow.signatures import sign_clickup_body
from tests.security.shared_nexus import security_env, security_nexus
from tests.support.nexus import NexusProcess
from tests.support.processes import oblivion_executable
from tests.support.waiting import eventually_sync

DEADLINE_SECONDS = 20.0


@contextlib.contextmanager
def worker_process(env: dict[str, str]) -> Iterator[Path]:
    """``oblivion nexus worker`` as a child process logging to a file; stopped with SIGTERM."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("OBLIVION_")}
    with tempfile.NamedTemporaryFile(prefix="worker-", suffix=".log", delete=False) as log:
        log_path = Path(log.name)
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [oblivion_executable(), "nexus", "worker"],
            env={**base, **env},
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        yield log_path
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def wait_for_text(path: Path, needle: str) -> None:
    eventually_sync(
        lambda: needle in path.read_text(errors="replace"),
        timeout=DEADLINE_SECONDS,
        what=f"{path} to mention {needle!r}",
        context=lambda: path.read_text(errors="replace")[-3000:],
    )


@pytest.fixture(scope="module")
def debug_env(postgres_url: str, redis_url: str, secret_registry: Any) -> dict[str, str]:
    slack_token, clickup_token = "xoxb-canary-" + secrets.token_hex(12), "pk_canary_" + secrets.token_hex(12)
    webhook_secret = secrets.token_hex(32)
    secret_registry.add(slack_token, clickup_token, webhook_secret)
    return {
        **security_env(postgres_url, redis_url, secret_registry),
        "OBLIVION_LOG_LEVEL": "DEBUG",
        "OBLIVION_SLACK_BOT_TOKEN": slack_token,
        "OBLIVION_CLICKUP_TOKEN": clickup_token,
        "OBLIVION_CLICKUP_WEBHOOK_SECRET": webhook_secret,
        # Nothing listens there: the worker's calls fail, and their failures are logged at DEBUG too.
        "OBLIVION_SLACK_API_URL": "http://127.0.0.1:9/api/",
        "OBLIVION_CLICKUP_API_URL": "http://127.0.0.1:9/api/v2/",
        "OBLIVION_WORKER_ATTEMPTS": "1",
    }


@pytest.fixture(scope="module")
def nexus(debug_env: dict[str, str], secret_registry: Any) -> Iterator[NexusProcess]:
    with security_nexus(debug_env, secret_registry) as proc:
        yield proc


def test_no_secret_reaches_any_process_log_at_debug(
    nexus: NexusProcess, debug_env: dict[str, str], secret_registry: Any
) -> None:
    client_id, client_secret = "cid-" + uuid.uuid4().hex, "canary-secret-" + secrets.token_hex(16)
    secret_registry.add(client_secret)
    admin = nexus.admin_headers()
    base = nexus.url + "/internal/v1/workgroups/logs"
    assert httpx.put(base, json={}, headers=admin).is_success
    assert httpx.put(base + "/projects/web", json={"clickupListId": "901"}, headers=admin).is_success
    agent = {"clientId": client_id, "clientSecret": client_secret, "aliases": ["canary"]}
    assert httpx.put(base + "/agents/canary", json=agent, headers=admin).status_code == 201
    granted = httpx.post(
        nexus.url + "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret},
    )
    assert granted.status_code == 200, granted.text
    token = granted.json()["access_token"]
    secret_registry.add(token)
    refused = httpx.post(
        nexus.url + "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret + "x",
        },
    )
    assert refused.status_code == 401

    ws_url = "ws" + nexus.url.removeprefix("http") + "/v1/agents/connect"
    # Each handshake is accepted (the token is good); that is all the logs need to see.
    with connect(ws_url, additional_headers={"Authorization": f"Bearer {token}"}, open_timeout=10):
        pass
    with connect(f"{ws_url}?access_token={token}", open_timeout=10):
        pass
    assert httpx.get(
        nexus.url + "/v1/tasks/none/context", headers={"Authorization": f"Bearer {token}"}
    ).status_code in (
        403,
        404,
    )

    with worker_process(nexus.env) as worker_log:
        body = json.dumps({"event": "taskCreated", "task_id": "t-canary", "webhook_id": "wh-canary",
                           "history_items": [{"id": "1", "field": "task_creation"}]}).encode()  # fmt: skip
        signature = sign_clickup_body(body, debug_env["OBLIVION_CLICKUP_WEBHOOK_SECRET"])
        delivered = httpx.post(
            nexus.url + "/webhooks/clickup", content=body, headers={"X-Signature": signature}, timeout=10
        )
        assert delivered.status_code == 200, delivered.text
        wait_for_text(worker_log, "t-canary")

        logs = {"nexus serve": nexus.output(), "nexus worker": worker_log.read_text(errors="replace")}
    assert "DEBUG" in logs["nexus serve"]
    assert "DEBUG" in logs["nexus worker"]
    assert "authorization" in logs["nexus serve"].lower()  # the handshake headers were logged, redacted
    canaries = {
        "client secret": client_secret,
        "access token": token,
        "admin token": debug_env["OBLIVION_ADMIN_TOKEN"],
        "JWT signing key": debug_env["OBLIVION_JWT_SIGNING_KEY"],
        "Slack bot token": debug_env["OBLIVION_SLACK_BOT_TOKEN"],
        "ClickUp token": debug_env["OBLIVION_CLICKUP_TOKEN"],
    }
    leaks = [
        f"{what} in the {process} log"
        for process, text in logs.items()
        for what, value in canaries.items()
        if value in text
    ]
    assert not leaks, leaks


def test_the_redaction_filter_hides_a_header_split_across_arguments() -> None:
    record = logging.LogRecord(
        "uvicorn.error", logging.DEBUG, __file__, 1, "< %s: %s", ("authorization", "Bearer opaque-1234"), None
    )
    assert AccessTokenRedactor().filter(record)
    assert record.getMessage() == "< authorization: Bearer [REDACTED]"


def test_a_token_placeholder_in_the_message_keeps_the_record_formattable() -> None:
    # Rewriting "token=%s" inside the message would leave its argument unused: logging would then
    # print a "Logging error" report to stderr, with the argument (the token) in it.
    record = logging.LogRecord(
        "tests", logging.INFO, __file__, 1, "GET ?token=%s&x=1", ("opaque-5678",), None
    )
    assert AccessTokenRedactor().filter(record)
    assert record.getMessage() == "GET ?token=[REDACTED]&x=1"


def test_uvicorns_access_line_keeps_its_arguments_with_the_token_redacted() -> None:
    args = ("10.0.0.1:5555", "GET", "/v1/agents/connect?access_token=opaque-9999", "1.1", 101)
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d', args, None
    )
    assert AccessTokenRedactor().filter(record)
    assert isinstance(record.args, tuple)  # uvicorn's access formatter reads them one by one
    assert record.args[2] == "/v1/agents/connect?access_token=[REDACTED]"
