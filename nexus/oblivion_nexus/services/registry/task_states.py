"""The life of a task as Oblivion tracks it, and which moves an agent may make.

``TODO → IN_PROGRESS → BLOCKED_ON_HUMAN → DONE``, with these rules:

- from ``TODO`` an agent may start (``IN_PROGRESS``), ask a person first (``BLOCKED_ON_HUMAN``) or
  finish at once (``DONE``, e.g. nothing to do);
- ``IN_PROGRESS`` and ``BLOCKED_ON_HUMAN`` go back and forth as often as needed, and either may end
  in ``DONE``;
- nothing goes back to ``TODO``, and ``DONE`` is final for an agent: reopening a task is a person's
  decision, made in ClickUp (the status change reaches Nexus through the webhook);
- asking for the state a task is already in changes nothing and is not an error, so a retried
  request is harmless.
"""

from __future__ import annotations

from enum import StrEnum

from oblivion_nexus.errors import ServiceError


class TaskState(StrEnum):
    TODO = "TODO"
    IN_PROGRESS = "IN_PROGRESS"
    BLOCKED_ON_HUMAN = "BLOCKED_ON_HUMAN"
    DONE = "DONE"


TRANSITIONS: dict[TaskState, frozenset[TaskState]] = {
    TaskState.TODO: frozenset({TaskState.IN_PROGRESS, TaskState.BLOCKED_ON_HUMAN, TaskState.DONE}),
    TaskState.IN_PROGRESS: frozenset({TaskState.BLOCKED_ON_HUMAN, TaskState.DONE}),
    TaskState.BLOCKED_ON_HUMAN: frozenset({TaskState.IN_PROGRESS, TaskState.DONE}),
    TaskState.DONE: frozenset(),
}

_ORDER = list(TaskState)


class IllegalTransition(ServiceError):
    """An agent asked for a move the state machine forbids; ``allowed`` lists the legal targets."""

    status = 409

    def __init__(self, current: TaskState, target: TaskState) -> None:
        self.current = current
        self.target = target
        self.allowed = allowed_from(current)
        choices = ", ".join(self.allowed) if self.allowed else "none (the task is finished)"
        message = f"a task in {current} cannot move to {target}; allowed from {current}: {choices}"
        super().__init__(message, detail={"message": message, "state": str(current), "allowed": self.allowed})

    def __repr__(self) -> str:
        return f"IllegalTransition(current={self.current!r}, target={self.target!r})"


def allowed_from(current: TaskState) -> list[str]:
    """The states an agent may move a task to from ``current``, in the order of the life cycle."""
    return [str(state) for state in _ORDER if state in TRANSITIONS[current]]


def parse_state(value: str) -> TaskState:
    """A stored state; anything unknown (a row written by a newer Nexus) counts as ``TODO``."""
    try:
        return TaskState(value)
    except ValueError:
        return TaskState.TODO


def check_transition(current: TaskState, target: TaskState) -> bool:
    """True when the move changes the state, False when it is already there; raise when forbidden."""
    if current == target:
        return False
    if target not in TRANSITIONS[current]:
        raise IllegalTransition(current, target)
    return True


def clickup_status_for(status_map: dict[str, str], state: TaskState) -> str | None:
    """The ClickUp status a project maps ``state`` to; ``None`` leaves the ClickUp status alone.

    ClickUp's API spells status names in lowercase and matches them regardless of case.
    """
    status = status_map.get(str(state))
    return status.strip().lower() if isinstance(status, str) and status.strip() else None
