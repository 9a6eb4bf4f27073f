"""The task state machine: which moves an agent may make, and how they map to ClickUp statuses."""

from __future__ import annotations

import pytest

from oblivion_nexus.services.registry.task_states import (
    IllegalTransition,
    TaskState,
    allowed_from,
    check_transition,
    clickup_status_for,
    parse_state,
)

LEGAL = [
    (TaskState.TODO, TaskState.IN_PROGRESS),
    (TaskState.TODO, TaskState.BLOCKED_ON_HUMAN),
    (TaskState.TODO, TaskState.DONE),
    (TaskState.IN_PROGRESS, TaskState.BLOCKED_ON_HUMAN),
    (TaskState.IN_PROGRESS, TaskState.DONE),
    (TaskState.BLOCKED_ON_HUMAN, TaskState.IN_PROGRESS),
    (TaskState.BLOCKED_ON_HUMAN, TaskState.DONE),
]


@pytest.mark.parametrize(("current", "target"), LEGAL)
def test_legal_moves_change_the_state(current: TaskState, target: TaskState) -> None:
    assert check_transition(current, target) is True


@pytest.mark.parametrize(
    ("current", "target"),
    [(c, t) for c in TaskState for t in TaskState if c != t and (c, t) not in LEGAL],
)
def test_every_other_move_is_refused_naming_the_allowed_ones(current: TaskState, target: TaskState) -> None:
    with pytest.raises(IllegalTransition) as refused:
        check_transition(current, target)
    assert refused.value.allowed == allowed_from(current)
    assert str(current) in str(refused.value)
    assert str(target) in str(refused.value)


def test_asking_for_the_current_state_is_a_harmless_no_op() -> None:
    for state in TaskState:
        assert check_transition(state, state) is False


def test_done_is_final_and_says_so() -> None:
    with pytest.raises(IllegalTransition, match="none \\(the task is finished\\)"):
        check_transition(TaskState.DONE, TaskState.IN_PROGRESS)


def test_allowed_targets_follow_the_life_cycle_order() -> None:
    assert allowed_from(TaskState.TODO) == ["IN_PROGRESS", "BLOCKED_ON_HUMAN", "DONE"]
    assert allowed_from(TaskState.BLOCKED_ON_HUMAN) == ["IN_PROGRESS", "DONE"]


def test_status_map_gives_lowercase_clickup_status_and_none_for_unmapped_states() -> None:
    status_map = {"IN_PROGRESS": " In Progress ", "DONE": "complete", "BLOCKED_ON_HUMAN": ""}
    assert clickup_status_for(status_map, TaskState.IN_PROGRESS) == "in progress"
    assert clickup_status_for(status_map, TaskState.DONE) == "complete"
    assert clickup_status_for(status_map, TaskState.BLOCKED_ON_HUMAN) is None
    assert clickup_status_for(status_map, TaskState.TODO) is None


def test_an_unknown_stored_state_reads_as_todo() -> None:
    assert parse_state("IN_PROGRESS") is TaskState.IN_PROGRESS
    assert parse_state("ARCHIVED_BY_A_NEWER_NEXUS") is TaskState.TODO
