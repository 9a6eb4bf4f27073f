"""Argo CD's view of Oblivion resources: the Lua health checks, run by real Lua (lupa)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lupa
import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
HEALTH_CM = REPO / "deploy" / "argocd" / "argocd-cm-health.yaml"
KINDS = ["Workgroup", "Project", "Agent", "ToolCredential"]


def _script(kind: str) -> str:
    return _script_for(f"resource.customizations.health.oblivion.dev_{kind}")


def assess(kind: str, obj: dict[str, Any]) -> dict[str, str]:
    """Run the kind's health script as Argo CD does: `obj` in, `{status, message}` table out."""
    lua = lupa.LuaRuntime(unpack_returned_tuples=True)
    check = lua.eval(f"function(obj)\n{_script(kind)}\nend")
    result = check(lua.table_from(obj, recursive=True))
    return {"status": result["status"], "message": result["message"] or ""}


def _obj(kind: str, generation: int = 3, status: dict[str, Any] | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "oblivion.dev/v1alpha1",
        "kind": kind,
        "metadata": {"name": "squad-backend", "generation": generation},
        "spec": {},
    }
    if status is not None:
        obj["status"] = status
    return obj


def _ready(value: str, reason: str, message: str, generation: int = 3) -> dict[str, Any]:
    return {
        "observedGeneration": generation,
        "conditions": [
            {"type": "Synced", "status": "True", "reason": "Synced", "message": "", "observedGeneration": 3},
            {
                "type": "Ready",
                "status": value,
                "reason": reason,
                "message": message,
                "observedGeneration": generation,
                "lastTransitionTime": "2026-11-25T10:00:00Z",
            },
        ],
    }


def _script_for(key: str) -> str:
    data: dict[str, str] = yaml.safe_load(HEALTH_CM.read_text())["data"]
    return data[key]


def test_every_kind_has_a_health_check_in_argocd_cm() -> None:
    data = yaml.safe_load(HEALTH_CM.read_text())["data"]
    assert sorted(data) == sorted(
        [f"resource.customizations.health.oblivion.dev_{k}" for k in KINDS]
        + ["resource.customizations.health.argoproj.io_Application"]
    )


def test_an_application_reports_the_health_argo_cd_gave_it() -> None:
    lua = lupa.LuaRuntime(unpack_returned_tuples=True)
    check = lua.eval(
        f"function(obj)\n{_script_for('resource.customizations.health.argoproj.io_Application')}\nend"
    )

    def health(obj: dict[str, Any]) -> tuple[str, str]:
        result = check(lua.table_from(obj, recursive=True))
        return result["status"], result["message"]

    assert health({"status": {"health": {"status": "Healthy"}}}) == ("Healthy", "")
    assert health({"status": {"health": {"status": "Degraded", "message": "crd"}}}) == ("Degraded", "crd")
    assert health({"metadata": {"name": "oblivion"}}) == ("Progressing", "")


@pytest.mark.parametrize("kind", KINDS)
def test_a_ready_resource_of_the_current_generation_is_healthy(kind: str) -> None:
    health = assess(kind, _obj(kind, status=_ready("True", "Reconciled", "All set")))
    assert health == {"status": "Healthy", "message": "All set"}


@pytest.mark.parametrize("kind", KINDS)
def test_a_resource_the_operator_has_not_seen_yet_is_progressing(kind: str) -> None:
    assert assess(kind, _obj(kind))["status"] == "Progressing"
    assert assess(kind, _obj(kind, status={}))["status"] == "Progressing"


@pytest.mark.parametrize("kind", KINDS)
def test_a_ready_status_of_an_older_generation_is_progressing(kind: str) -> None:
    stale = _obj(kind, generation=4, status=_ready("True", "Reconciled", "All set", generation=3))
    health = assess(kind, stale)
    assert health["status"] == "Progressing"
    assert "4" in health["message"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_ready_condition_older_than_the_status_is_progressing(kind: str) -> None:
    status = _ready("True", "Reconciled", "All set")
    status["conditions"][1]["observedGeneration"] = 2
    assert assess(kind, _obj(kind, status=status))["status"] == "Progressing"


@pytest.mark.parametrize("kind", KINDS)
def test_a_failed_resource_is_degraded_with_the_reason_shown(kind: str) -> None:
    health = assess(kind, _obj(kind, status=_ready("False", "InvalidSpec", "spec.slack: give one of two")))
    assert health == {"status": "Degraded", "message": "InvalidSpec: spec.slack: give one of two"}
    missing = assess(kind, _obj(kind, status=_ready("False", "SecretNotFound", "no Secret github")))
    assert missing["status"] == "Degraded"


@pytest.mark.parametrize("kind", KINDS)
def test_an_outage_the_operator_retries_is_progressing_not_degraded(kind: str) -> None:
    for reason in ("SlackUnavailable", "SlackRateLimited", "NexusUnavailable"):
        health = assess(kind, _obj(kind, status=_ready("False", reason, "retrying")))
        assert health["status"] == "Progressing", reason
        assert health["message"].startswith(reason)


@pytest.mark.parametrize("kind", KINDS)
def test_an_unknown_or_missing_ready_condition_is_progressing(kind: str) -> None:
    assert assess(kind, _obj(kind, status=_ready("Unknown", "Reconciling", "")))["status"] == "Progressing"
    no_ready = {"observedGeneration": 3, "conditions": [{"type": "Synced", "status": "True"}]}
    assert assess(kind, _obj(kind, status=no_ready)) == {
        "status": "Progressing",
        "message": "No Ready condition yet",
    }


def test_an_object_without_generation_is_judged_by_its_ready_condition() -> None:
    obj = _obj("Workgroup", status=_ready("True", "Reconciled", "ok"))
    del obj["metadata"]["generation"]
    assert assess("Workgroup", obj)["status"] == "Healthy"
