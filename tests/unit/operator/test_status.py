"""Conditions: transitions move lastTransitionTime, repeats do not, and generation is recorded."""

from __future__ import annotations

import datetime

from oblivion_operator.status import (
    EXTRA_CONDITIONS,
    ConditionUpdate,
    get_condition,
    ready_status,
    set_condition,
)

T0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
T1 = T0 + datetime.timedelta(minutes=5)


def test_new_condition_gets_the_transition_time_and_generation() -> None:
    [ready] = set_condition([], "Ready", True, "Reconciled", "ok", 3, now=T0)
    assert ready == {
        "type": "Ready",
        "status": "True",
        "reason": "Reconciled",
        "message": "ok",
        "observedGeneration": 3,
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }


def test_same_status_keeps_the_transition_time_but_updates_the_message() -> None:
    first = set_condition([], "Ready", False, "SlackUnavailable", "down", 1, now=T0)
    second = set_condition(first, "Ready", False, "NexusUnavailable", "still down", 2, now=T1)
    assert second[0]["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert second[0]["reason"] == "NexusUnavailable"
    assert second[0]["observedGeneration"] == 2


def test_flipped_status_moves_the_transition_time() -> None:
    first = set_condition([], "Ready", False, "SlackUnavailable", "down", 1, now=T0)
    second = set_condition(first, "Ready", True, "Reconciled", "ok", 1, now=T1)
    assert second[0]["lastTransitionTime"] == "2026-01-01T00:05:00Z"


def test_other_conditions_are_kept() -> None:
    others = [
        {"type": "Available", "status": "True", "reason": "x", "message": "", "lastTransitionTime": "t"}
    ]
    result = set_condition(others, "Ready", True, "Reconciled", "ok", 1, now=T0)
    assert [c["type"] for c in result] == ["Available", "Ready"]


def test_ready_status_carries_fields_conditions_and_observed_generation() -> None:
    status = ready_status({}, True, "Reconciled", "ok", 7, {"phase": "Active"})
    assert status["phase"] == "Active"
    assert status["observedGeneration"] == 7
    assert get_condition(status) is not None
    assert get_condition(status, "Missing") is None


def test_a_flows_extra_conditions_are_set_next_to_ready_and_not_kept_as_a_field() -> None:
    slack = ConditionUpdate("SlackChannel", False, "SlackNotConfigured", "no token")
    patch = ready_status({}, True, "Reconciled", "ok", 2, {"slackChannelId": None, EXTRA_CONDITIONS: [slack]})
    assert EXTRA_CONDITIONS not in patch
    assert patch["slackChannelId"] is None
    assert [c["type"] for c in patch["conditions"]] == ["Ready", "SlackChannel"]
    channel = get_condition(patch, "SlackChannel")
    assert channel is not None
    assert (channel["status"], channel["reason"], channel["observedGeneration"]) == (
        "False",
        "SlackNotConfigured",
        2,
    )
    again = ready_status(patch, True, "Reconciled", "ok", 3, {EXTRA_CONDITIONS: [slack]})
    assert [c["type"] for c in again["conditions"]] == ["Ready", "SlackChannel"]
