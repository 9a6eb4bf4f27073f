"""Status conditions in the Kubernetes convention, computed purely from the old list and the outcome.

``lastTransitionTime`` moves only when a condition's status flips, so Argo CD and ``kubectl wait`` see
real transitions, and every write carries ``observedGeneration``.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Iterable, Mapping
from typing import Any

READY = "Ready"
Condition = dict[str, Any]
EXTRA_CONDITIONS = "_conditions"  # key of a flow's result listing conditions besides Ready


@dataclasses.dataclass(frozen=True)
class ConditionUpdate:
    """A condition a reconcile flow reports next to Ready (e.g. ``SlackChannel``)."""

    type: str
    status: bool | str  # True, False or "Unknown"
    reason: str
    message: str


def now_rfc3339(now: datetime.datetime | None = None) -> str:
    moment = now or datetime.datetime.now(datetime.UTC)
    return moment.astimezone(datetime.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def set_condition(
    conditions: Iterable[Mapping[str, Any]] | None,
    type_: str,
    status: bool | str,
    reason: str,
    message: str,
    generation: int | None,
    now: datetime.datetime | None = None,
) -> list[Condition]:
    """The condition list with ``type_`` replaced (or added), keeping the others in place."""
    value = status if isinstance(status, str) else ("True" if status else "False")
    result: list[Condition] = []
    found = False
    for old in conditions or ():
        if old.get("type") != type_:
            result.append(dict(old))
            continue
        found = True
        moved = old.get("status") != value
        result.append(
            _condition(
                type_,
                value,
                reason,
                message,
                generation,
                now_rfc3339(now) if moved else old.get("lastTransitionTime") or now_rfc3339(now),
            )
        )
    if not found:
        result.append(_condition(type_, value, reason, message, generation, now_rfc3339(now)))
    return result


def _condition(
    type_: str, status: str, reason: str, message: str, generation: int | None, at: str
) -> Condition:
    condition: Condition = {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": at,
    }
    if generation is not None:
        condition["observedGeneration"] = generation
    return condition


def get_condition(status: Mapping[str, Any] | None, type_: str = READY) -> Condition | None:
    for condition in (status or {}).get("conditions") or ():
        if condition.get("type") == type_:
            return dict(condition)
    return None


def ready_status(
    old_status: Mapping[str, Any] | None,
    ready: bool,
    reason: str,
    message: str,
    generation: int | None,
    fields: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A full status patch: the kind's own ``fields``, the Ready condition and ``observedGeneration``.

    ``fields`` may carry ``EXTRA_CONDITIONS`` (ConditionUpdates), set after Ready in the same patch.
    """
    patch: dict[str, Any] = dict(fields or {})
    extra: Iterable[ConditionUpdate] = patch.pop(EXTRA_CONDITIONS, ())
    conditions = set_condition(
        (old_status or {}).get("conditions"), READY, ready, reason, message, generation
    )
    for update in extra:
        conditions = set_condition(
            conditions, update.type, update.status, update.reason, update.message, generation
        )
    patch["conditions"] = conditions
    if generation is not None:
        patch["observedGeneration"] = generation
    return patch
