"""A stand-in for the deployment controller and kubelets, which the emulator does not run.

Operator tests need Deployments to become Ready (`status.readyReplicas`) the way they do in a cluster
once pods start; this module writes that status through the `/status` subresource, either once on
request or for every Deployment as it appears or changes.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from tests.kube import errors, patching
from tests.kube.resources import ResourceType
from tests.kube.selectors import object_matcher
from tests.kube.store import ObjectStore

logger = logging.getLogger(__name__)


def _deployments(store: ObjectStore) -> ResourceType:
    rtype = store.catalogue.find("apps", "v1", "deployments")
    assert rtype is not None, "apps/v1 deployments are built into the emulator"
    return rtype


def ready_status(deployment: dict[str, Any]) -> dict[str, Any]:
    replicas = int((deployment.get("spec") or {}).get("replicas", 1))
    return {
        "observedGeneration": deployment["metadata"].get("generation", 1),
        "replicas": replicas,
        "updatedReplicas": replicas,
        "readyReplicas": replicas,
        "availableReplicas": replicas,
        "conditions": [
            {
                "type": "Available",
                "status": "True",
                "reason": "MinimumReplicasAvailable",
                "message": "Deployment has minimum availability.",
            },
            {
                "type": "Progressing",
                "status": "True",
                "reason": "NewReplicaSetAvailable",
                "message": "ReplicaSet has successfully progressed.",
            },
        ],
    }


def mark_ready(store: ObjectStore, name: str, namespace: str) -> dict[str, Any]:
    """Write a Ready status on one Deployment; runs on the emulator's loop."""
    rtype = _deployments(store)
    deployment = store.get(rtype, namespace, name)
    return store.patch(
        rtype, namespace, name, patching.MERGE_PATCH, {"status": ready_status(deployment)}, "status"
    )


async def _run(store: ObjectStore) -> None:
    rtype = _deployments(store)
    subscription, backlog = store.subscribe(rtype, None, object_matcher(None, None), None)
    try:
        for event in backlog:
            _reconcile(store, event.obj)
        while (change := await subscription.queue.get()) is not None:
            if change.type != "DELETED":
                _reconcile(store, change.obj)
    finally:
        store.changes.unsubscribe(subscription)


def _reconcile(store: ObjectStore, deployment: dict[str, Any]) -> None:
    meta = deployment["metadata"]
    wanted = ready_status(deployment)
    status = deployment.get("status") or {}
    if all(status.get(key) == wanted[key] for key in ("observedGeneration", "readyReplicas", "replicas")):
        return
    try:
        mark_ready(store, meta["name"], meta["namespace"])
    except errors.ApiError as e:  # deleted meanwhile: nothing to mark
        logger.debug("The kubelet skipped %s/%s: %r", meta["namespace"], meta["name"], e)


def start(store: ObjectStore) -> None:
    """Make every Deployment Ready as soon as it is created or changed; runs on the emulator's loop."""
    if not store.controllers:
        store.controllers.append(asyncio.get_running_loop().create_task(_run(store)))
