"""Which agents a task summons, what a ClickUp status means, how a root message looks, job ids."""

from __future__ import annotations

from typing import Any

import pytest

from oblivion_nexus.integrations.clickup_models import Task
from oblivion_nexus.services.taskflow.intake import root_message_blocks
from oblivion_nexus.services.taskflow.tracked_tasks import (
    AgentRef,
    ProjectRef,
    agents_summoned,
    state_for_status,
)
from oblivion_nexus.stores.queue import job_id_for

REVIEWER = AgentRef(1, "backend", "reviewer", ("ai-backend", "reviewer"), "777")
WRITER = AgentRef(2, "backend", "writer", ("docs-bot",), None)
AGENTS = [REVIEWER, WRITER]


def task(**fields: Any) -> Task:
    return Task.model_validate({"id": "86abc", "name": "Fix login", **fields})


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"name": "Fix login @AI-Backend"}, ["reviewer"]),
        ({"text_content": "please @docs-bot and @reviewer."}, ["reviewer", "writer"]),
        ({"text_content": "mail ops@ai-backend.io or @ai-backend-v2"}, []),
        ({"tags": [{"name": "docs-bot"}]}, ["writer"]),
        ({"assignees": [{"id": 777, "username": "Reviewer"}]}, ["reviewer"]),
        ({"assignees": [{"id": 5, "username": "Jane"}], "tags": [{"name": "frontend"}]}, []),
    ],
)
def test_task_summons_agents_by_alias_tag_or_mapped_assignee(
    fields: dict[str, Any], expected: list[str]
) -> None:
    assert sorted(agent.name for agent in agents_summoned(AGENTS, task(**fields))) == expected


def test_status_maps_back_through_the_project_status_map_then_clickup_defaults() -> None:
    project = ProjectRef("backend", "auth", "C1", False, {"IN_PROGRESS": "Doing", "DONE": "shipped"})
    assert state_for_status(project, "doing") == "IN_PROGRESS"
    assert state_for_status(project, "Shipped") == "DONE"
    assert state_for_status(project, "to do") == "TODO"
    assert state_for_status(project, "somewhere else") is None


def test_root_message_has_title_link_and_assignee_escaped() -> None:
    text, blocks = root_message_blocks(
        task(
            name="a < b & c",
            url="https://app.clickup.com/t/86abc",
            assignees=[{"id": 1, "username": "Jane"}],
        )
    )
    assert text == "New task: a &lt; b &amp; c"
    assert blocks[0]["text"]["text"] == "a < b & c"
    assert blocks[1]["text"]["text"] == "<https://app.clickup.com/t/86abc|a &lt; b &amp; c>"
    assert "Assignee: Jane" in [element["text"] for element in blocks[2]["elements"]]


def test_job_ids_are_safe_for_bullmq_and_stable() -> None:
    job_id = job_id_for("clickup", "7fa3ec74-69a8:2800763136717140858")
    assert ":" not in job_id
    assert job_id == job_id_for("clickup", "7fa3ec74-69a8:2800763136717140858")
    assert job_id != job_id_for("slack", "7fa3ec74-69a8:2800763136717140858")
