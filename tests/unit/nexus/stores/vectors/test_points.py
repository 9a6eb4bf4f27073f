"""Point ids derive from the source, so redelivery overwrites instead of duplicating."""

from __future__ import annotations

import uuid

import pytest

from oblivion_nexus.stores.vectors import (
    MemoryKind,
    MemoryPoint,
    MemoryScope,
    MemorySource,
    UnscopedSearch,
    clickup_comment_source_id,
    point_id,
    slack_source_id,
)


def test_the_same_slack_message_always_gets_the_same_point_id() -> None:
    source = slack_source_id("T01", "C02", "1712000000.000100")
    assert point_id(source, 0) == point_id(slack_source_id("T01", "C02", "1712000000.000100"), 0)
    assert uuid.UUID(point_id(source, 0)).version == 5


def test_chunks_channels_and_workspaces_get_distinct_ids() -> None:
    ids = {
        point_id(slack_source_id("T01", "C02", "1.1"), 0),
        point_id(slack_source_id("T01", "C02", "1.1"), 1),
        point_id(slack_source_id("T01", "C03", "1.1"), 0),
        point_id(slack_source_id("T09", "C02", "1.1"), 0),
        point_id(clickup_comment_source_id("1.1"), 0),
    }
    assert len(ids) == 5


def test_a_point_survives_the_round_trip_through_its_payload() -> None:
    point = MemoryPoint(
        source_id=clickup_comment_source_id("90120"),
        chunk=2,
        project_id="payments",
        text="Refund job retries 3 times",
        kind=MemoryKind.COMMENT,
        source=MemorySource.CLICKUP,
        timestamp=1712000000.5,
        author="U123",
        task_id="86abc",
        link="https://app.clickup.com/t/86abc",
    )
    assert MemoryPoint.from_payload(point.payload()) == point


def test_a_scope_without_projects_is_refused() -> None:
    with pytest.raises(UnscopedSearch):
        MemoryScope(projects=())
    with pytest.raises(UnscopedSearch):
        MemoryScope(projects=("",))


def test_a_scope_ending_before_it_starts_is_refused() -> None:
    with pytest.raises(ValueError, match="since is after until"):
        MemoryScope(projects=("p",), since=10.0, until=5.0)
