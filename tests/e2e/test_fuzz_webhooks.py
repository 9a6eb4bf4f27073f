"""Hypothesis against both webhook endpoints of Nexus as processes, with the worker running.

``tests/integration/flow/test_webhook_fuzz.py`` proves the API never answers 500. This goes one step
further down the flow: bodies are correctly signed, so odd but well-formed events get past the door
into the durable queue, and the worker has to survive them. Afterwards the worker is still alive and a
real task still becomes exactly one thread: nothing in the queue poisoned it.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oblivion_nexus.services.taskflow.signatures import sign_clickup_body, sign_slack_body
from tests.e2e.harness import Stack, Team
from tests.fakes import clickup_payloads as shapes
from tests.secret_logs import SecretRegistry
from tests.support.stores import scratch_database
from tests.support.waiting import eventually_sync

ALLOWED = {200, 400, 413}  # signed correctly: accepted, or refused as malformed / too large
_FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
clickup_events = st.sampled_from(
    [
        "taskCreated",
        "taskUpdated",
        "taskDeleted",
        "taskStatusUpdated",
        "taskCommentPosted",
        "taskAssigneeUpdated",
        "taskTagUpdated",
        "nonsense",
    ]
)
history_items = st.lists(
    st.fixed_dictionaries(
        {"id": st.text(min_size=1, max_size=12)},
        optional={
            "field": st.sampled_from(["status", "task_creation", "comment", "content", "assignee_add", "x"])
            | json_values,
            "user": st.fixed_dictionaries({"id": st.integers(), "username": st.text(max_size=10)})
            | json_values,
            "after": json_values,
            "before": json_values,
            "comment": json_values,
        },
    ),
    max_size=3,
)
slack_events = st.fixed_dictionaries(
    {"type": st.sampled_from(["message", "app_mention", "reaction_added", "other"])},
    optional={
        "channel": st.text(max_size=12) | json_values,
        "ts": st.text(max_size=20) | json_values,
        "thread_ts": st.text(max_size=20) | json_values,
        "user": st.text(max_size=12) | json_values,
        "bot_id": st.text(max_size=12) | json_values,
        "subtype": st.text(max_size=12) | json_values,
        "text": st.text(max_size=60) | json_values,
    },
)


@pytest.fixture(scope="module")
def fuzzed(
    redis_url: str, secret_registry: SecretRegistry, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Stack, Team]]:
    log_dir = Path(tmp_path_factory.mktemp("e2e-fuzz"))
    with scratch_database("oblivion_e2e") as database_url:
        stack = Stack(
            database_url=database_url, redis_url=redis_url, log_dir=log_dir, manage_clickup_webhooks=False
        )
        secret_registry.add(*stack.secret_values())
        try:
            stack.start_fakes()
            stack.migrate()
            stack.start_api()
            stack.start_worker()
            team = stack.register_team()
            secret_registry.add(team.client_secret)
            yield stack, team
        finally:
            stack.close()
            for proc in stack.processes:
                secret_registry.add_log_file(proc.log_path)


def test_signed_odd_events_never_get_a_500_and_leave_the_worker_working(fuzzed: tuple[Stack, Team]) -> None:
    nexus, team = fuzzed
    clickup_secret, slack_secret = (
        nexus.secrets["clickup_webhook_secret"],
        nexus.secrets["slack_signing_secret"],
    )
    answers: list[int] = []
    with httpx.Client(base_url=nexus.api_urls[0], timeout=10) as http:

        @_FUZZ
        @given(
            event=clickup_events,
            task_id=st.text(min_size=1, max_size=12) | st.sampled_from([team.list_id, "abc"]),
            items=history_items,
            extra=st.dictionaries(st.text(max_size=8), json_values, max_size=2),
        )
        def clickup(event: str, task_id: str, items: list[dict[str, Any]], extra: dict[str, Any]) -> None:
            payload = {
                **extra,
                "event": event,
                "task_id": task_id,
                "webhook_id": str(uuid.uuid4()),
                "history_items": items,
            }
            body = shapes.compact_json(payload)
            headers = {
                "Content-Type": "application/json",
                "X-Signature": sign_clickup_body(body, clickup_secret),
            }
            status = http.post("/webhooks/clickup", content=body, headers=headers).status_code
            answers.append(status)
            assert status in ALLOWED, (status, payload)

        @_FUZZ
        @given(event=slack_events, event_id=st.text(min_size=1, max_size=20), in_channel=st.booleans())
        def slack(event: dict[str, Any], event_id: str, in_channel: bool) -> None:
            if in_channel:
                event = {**event, "channel": team.channel_id}
            payload = {
                "type": "event_callback",
                "team_id": "T123ABC456",
                "event_id": event_id,
                "event_time": int(time.time()),
                "event": event,
            }
            body = json.dumps(payload).encode()
            stamp = str(int(time.time()))
            headers = {
                "Content-Type": "application/json",
                "X-Slack-Request-Timestamp": stamp,
                "X-Slack-Signature": sign_slack_body(body, stamp, slack_secret),
            }
            status = http.post("/webhooks/slack", content=body, headers=headers).status_code
            answers.append(status)
            assert status in ALLOWED, (status, payload)

        clickup()
        slack()
    assert 200 in answers  # the fuzzing reached the queue, not only the door

    # The worker survived whatever got queued, and a real task still becomes one thread.
    assert nexus.clickup is not None
    assert nexus.slack is not None
    slack_fake = nexus.slack
    task_id = str(
        nexus.clickup.create_task(team.list_id, "After the fuzz", f"@{team.alias} still there?")["id"]
    )
    items = shapes.creation_history_items(team.list_id, "to do", dict(shapes.DEFAULT_USER))
    body = shapes.compact_json(
        shapes.webhook_payload("taskCreated", task_id=task_id, webhook_id="w", history_items=items)
    )
    headers = {"Content-Type": "application/json", "X-Signature": sign_clickup_body(body, clickup_secret)}
    assert (
        httpx.post(nexus.api_urls[0] + "/webhooks/clickup", content=body, headers=headers).status_code == 200
    )
    roots = eventually_sync(
        lambda: slack_fake.roots_by_task(team.channel_id).get(task_id),
        timeout=30,
        what="the real task's root message",
        watch=nexus.processes,
    )
    assert len(roots) == 1
    assert all(proc.alive for proc in nexus.processes)
    assert "Traceback" not in nexus.apis[0].output()
