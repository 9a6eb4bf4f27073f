"""Reconcile flows of the four kinds: validate the spec, render, then call Kubernetes, Slack, Qdrant, Nexus.

Each flow is idempotent (every create is get-or-create by a stable name) and returns the status fields
of its kind; ``handlers`` turns the outcome into conditions and kopf's retry decisions.
"""

from __future__ import annotations

from oblivion_operator.reconcile.agent import delete_agent, reconcile_agent, refresh_agent_presence
from oblivion_operator.reconcile.context import Blocked, OperatorContext
from oblivion_operator.reconcile.credential import delete_credential, reconcile_credential
from oblivion_operator.reconcile.project import delete_project, reconcile_project
from oblivion_operator.reconcile.workgroup import delete_workgroup, reconcile_workgroup

__all__ = [
    "Blocked",
    "OperatorContext",
    "delete_agent",
    "delete_credential",
    "delete_project",
    "delete_workgroup",
    "reconcile_agent",
    "reconcile_credential",
    "reconcile_project",
    "reconcile_workgroup",
    "refresh_agent_presence",
]
