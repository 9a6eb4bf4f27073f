"""The real Kubernetes control plane for tests, and the helpers to run kopf against it.

``main.go`` (built by ``make apiserver``) runs kube-apiserver, etcd and a trimmed
kube-controller-manager. Public surface: `Cluster` (what the ``kube`` fixture yields), `ApiError` (the
server's refusals), `WaitTimeout`, `control_plane_cluster` (a started control plane outside pytest,
e.g. in benchmarks) and `run_operator` (kopf in its own thread, logged in as the operator's
ServiceAccount).
"""

from __future__ import annotations

from tests.controlplane.cluster import ApiError, Cluster, WaitTimeout
from tests.controlplane.fixtures import control_plane_cluster
from tests.controlplane.operator_runner import OperatorRun, run_operator

__all__ = ["ApiError", "Cluster", "OperatorRun", "WaitTimeout", "control_plane_cluster", "run_operator"]
