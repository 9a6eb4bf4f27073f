from __future__ import annotations

import pytest

from oblivion_agent._dedupe import SeenEvents


def test_a_handled_event_id_is_recognised_and_an_unknown_one_is_not() -> None:
    seen = SeenEvents(capacity=3)
    seen.add("e1")
    assert seen.seen("e1")
    assert not seen.seen("e2")


def test_the_least_recently_seen_id_is_forgotten_when_full() -> None:
    seen = SeenEvents(capacity=3)
    for event_id in ("e1", "e2", "e3", "e4"):
        seen.add(event_id)
    assert len(seen) == 3
    assert "e1" not in seen
    assert all(event_id in seen for event_id in ("e2", "e3", "e4"))


def test_a_duplicate_refreshes_its_id_so_bursts_of_redeliveries_stay_recognised() -> None:
    seen = SeenEvents(capacity=3)
    for event_id in ("e1", "e2", "e3"):
        seen.add(event_id)
    assert seen.seen("e1")  # e1 is now the most recent
    seen.add("e4")
    assert "e1" in seen
    assert "e2" not in seen


def test_memory_stays_bounded_under_many_ids() -> None:
    seen = SeenEvents(capacity=100)
    for n in range(10_000):
        seen.add(f"e{n}")
    assert len(seen) == 100
    assert "e9999" in seen


def test_a_capacity_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="capacity"):
        SeenEvents(capacity=0)
