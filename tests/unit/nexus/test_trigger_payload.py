"""``oblivion trigger clickup-task`` sends what ClickUp sends: the taskCreated fixture's shape."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from oblivion_nexus.devtools import task_created_payload
from oblivion_nexus.integrations.clickup_events import parse_clickup_webhook

FIXTURE = (
    Path(
        os.environ.get(
            "OBLIVION_SHARED_FIXTURES", Path(__file__).resolve().parents[4] / "shared" / "fixtures"
        )
    )
    / "clickup"
    / "webhooks"
    / "taskCreated.json"
)


@pytest.fixture
def documented() -> dict[str, object]:
    if not FIXTURE.is_file():
        pytest.fail(f"the shared ClickUp fixtures are missing at {FIXTURE}", pytrace=False)
    loaded: dict[str, object] = json.loads(FIXTURE.read_text())
    return loaded


def test_the_payload_has_every_key_of_the_documented_task_created_delivery(
    documented: dict[str, object],
) -> None:
    payload = task_created_payload("86abc", "901", "7fa3ec74-69a8-4530-a251-8a13730bd204")
    assert payload.keys() == documented.keys()
    documented_items = documented["history_items"]
    assert isinstance(documented_items, list)
    assert [item.keys() for item in payload["history_items"]] == [item.keys() for item in documented_items]
    assert [item["field"] for item in payload["history_items"]] == ["status", "task_creation"]


def test_nexus_parses_it_with_the_list_id_and_a_fresh_dedupe_key_each_time() -> None:
    first = parse_clickup_webhook(json.dumps(task_created_payload("86abc", "901", "hook-1")))
    second = parse_clickup_webhook(json.dumps(task_created_payload("86abc", "901", "hook-1")))
    assert first.event == "taskCreated"
    assert first.task_id == "86abc"
    assert first.list_id == "901"
    assert first.dedupe_key != second.dedupe_key
