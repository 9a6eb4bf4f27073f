"""Workgroup ``memory.isolation``: PerProject gives each Project its own Qdrant collection, Shared none."""

from __future__ import annotations

from typing import Any

from oblivion_operator.settings import OperatorSettings
from tests.controlplane import Cluster
from tests.support.operator import NexusAdmin, ready, start_operator


def _workgroup(name: str, isolation: str) -> dict[str, Any]:
    return {
        "apiVersion": "oblivion.dev/v1alpha1",
        "kind": "Workgroup",
        "metadata": {"name": name},
        "spec": {"slack": {"channelName": name}, "memory": {"isolation": isolation}},
    }


def _project(name: str, namespace: str, list_id: int, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "oblivion.dev/v1alpha1",
        "kind": "Project",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"clickup": {"listId": str(list_id)}, **spec},
    }


def test_per_project_projects_get_their_own_collection_dropped_only_under_delete(
    cluster: Cluster, operator_settings: OperatorSettings, nexus_admin: NexusAdmin
) -> None:
    ns = "wg-iso-per"
    with start_operator(cluster, operator_settings) as operator:
        cluster.create(_workgroup("iso-per", "PerProject"))
        cluster.wait_for_object("workgroups", "iso-per", condition=ready, timeout=30)
        cluster.create(_project("alpha", ns, 93100000001, retentionPolicy="Delete"))
        cluster.create(_project("beta", ns, 93100000002, retentionPolicy="Retain"))
        alpha = cluster.wait_for_object("projects", "alpha", ns, condition=ready, timeout=30)
        beta = cluster.wait_for_object("projects", "beta", ns, condition=ready, timeout=30)
        assert alpha["status"]["collection"] == "tenant_iso-per__alpha"
        assert beta["status"]["collection"] == "tenant_iso-per__beta"
        # Nexus writes the project's memory where the operator says
        registered = nexus_admin.get("workgroups/iso-per/projects/alpha") or {}
        assert (registered.get("memoryIsolation"), registered.get("collection")) == (
            "PerProject",
            "tenant_iso-per__alpha",
        )
        # payload indexes come from the same ensure_collection as the workgroup's; the embedded store
        # does not report them, so only the vector parameters are checked here
        described = operator.call(operator.ctx.qdrant.describe("tenant_iso-per__alpha"))
        assert described == (operator_settings.embedding_size, "Cosine")
        assert operator.call(operator.ctx.qdrant.exists("tenant_iso-per"))  # the workgroup's stays

        cluster.delete("projects", "alpha", ns)
        cluster.delete("projects", "beta", ns)
        cluster.wait_for_deletion("projects", "alpha", ns, timeout=30)
        cluster.wait_for_deletion("projects", "beta", ns, timeout=30)
        assert not operator.call(operator.ctx.qdrant.exists("tenant_iso-per__alpha"))
        assert operator.call(operator.ctx.qdrant.exists("tenant_iso-per__beta"))


def test_a_dropped_project_collection_is_recreated_by_the_drift_timer(
    cluster: Cluster, operator_settings: OperatorSettings
) -> None:
    ns = "wg-iso-drift"
    fast = operator_settings.model_copy(update={"drift_interval_seconds": 0.5})
    with start_operator(cluster, fast) as operator:
        cluster.create(_workgroup("iso-drift", "PerProject"))
        cluster.wait_for_object("workgroups", "iso-drift", condition=ready, timeout=30)
        cluster.create(_project("gamma", ns, 93100000003))
        gamma = cluster.wait_for_object("projects", "gamma", ns, condition=ready, timeout=30)
        collection = gamma["status"]["collection"]
        assert collection == "tenant_iso-drift__gamma"

        operator.call(operator.ctx.qdrant.drop_collection(collection))
        cluster.wait_for(
            lambda: operator.call(operator.ctx.qdrant.exists(collection)), timeout=30, message="recreated"
        )
        assert operator.call(operator.ctx.qdrant.describe(collection)) == (fast.embedding_size, "Cosine")


def test_shared_workgroup_projects_get_no_collection_of_their_own(
    cluster: Cluster, operator_settings: OperatorSettings, nexus_admin: NexusAdmin
) -> None:
    ns = "wg-iso-shared"
    with start_operator(cluster, operator_settings) as operator:
        cluster.create(_workgroup("iso-shared", "Shared"))
        cluster.wait_for_object("workgroups", "iso-shared", condition=ready, timeout=30)
        cluster.create(_project("delta", ns, 93100000004, retentionPolicy="Delete"))
        delta = cluster.wait_for_object("projects", "delta", ns, condition=ready, timeout=30)
        assert "collection" not in delta["status"]
        registered = nexus_admin.get("workgroups/iso-shared/projects/delta") or {}
        assert (registered.get("memoryIsolation"), registered.get("collection")) == ("Shared", None)
        assert not operator.call(operator.ctx.qdrant.exists("tenant_iso-shared__delta"))
        assert operator.call(operator.ctx.qdrant.exists("tenant_iso-shared"))

        cluster.delete("projects", "delta", ns)
        cluster.wait_for_deletion("projects", "delta", ns, timeout=30)
        assert operator.call(operator.ctx.qdrant.exists("tenant_iso-shared"))  # the workgroup's is kept
