"""pytest plugin: the ``control_plane`` session fixture and the per-test ``kube`` fixture.

Registered from ``tests/conftest.py`` (``pytest_plugins``). One real control plane serves the whole
session (starting one takes seconds, not milliseconds): the CRDs of ``crds/`` and kopf's peering CRDs
are applied once with the real kubectl, server-side, and the operator's ServiceAccount is bound to
``operator/deploy/clusterrole.yaml``. Each test that asks for ``kube`` starts from a cluster with
none of the previous test's custom resources or namespaces.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.controlplane import process
from tests.controlplane.audit import AuditLog, apiserver_args
from tests.controlplane.cluster import OPERATOR_NAMESPACE, OPERATOR_SERVICE_ACCOUNT, Cluster
from tests.controlplane.process import REPO_ROOT

CRDS_DIR = REPO_ROOT / "crds"
KOPF_PEERING_CRDS = REPO_ROOT / "tests" / "controlplane" / "kopf_peering_crds.yaml"
OPERATOR_CLUSTERROLE = REPO_ROOT / "operator" / "deploy" / "clusterrole.yaml"
# API groups whose objects tests make and `Cluster.reset` removes between tests.
TEST_GROUPS = ("oblivion.dev", "kopf.dev")


def install_crds(cluster: Cluster) -> None:
    """Apply the project's CRDs and kopf's, server-side, and wait until the API serves them."""
    for path in (CRDS_DIR, KOPF_PEERING_CRDS):
        cluster.apply_file(path, server_side=True)
    cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")


OPERATOR_USER = f"system:serviceaccount:{OPERATOR_NAMESPACE}:{OPERATOR_SERVICE_ACCOUNT}"


@contextmanager
def control_plane_cluster(workdir: Path, *, audit_operator: bool = False) -> Iterator[Cluster]:
    """A started control plane with the CRDs and the operator's identity (also for benchmarks).

    With ``audit_operator`` the API server logs every request of the operator's ServiceAccount, read
    through ``cluster.audit`` (tests check the ClusterRole with it; benchmarks leave it off).
    """
    args: tuple[str, ...] = ()
    audit_path: Path | None = None
    if audit_operator:
        args, audit_path = apiserver_args(workdir, OPERATOR_USER)
    with process.control_plane(workdir, apiserver_args=args) as running:
        cluster = Cluster(running.kubeconfig_path)
        cluster.audit = AuditLog(audit_path) if audit_path is not None else None
        try:
            install_crds(cluster)
            cluster.bind_operator(OPERATOR_CLUSTERROLE, workdir)
            yield cluster
        finally:
            cluster.close()


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """The session's control plane with the CRDs installed and the operator's identity bound."""
    workdir = tmp_path_factory.mktemp("controlplane")
    with control_plane_cluster(workdir, audit_operator=True) as cluster:
        yield cluster


@pytest.fixture
def kube(control_plane: Cluster) -> Iterator[Cluster]:
    """The control plane, emptied of what earlier tests made. A test during which the API server
    refused the operator anything (a verb missing from its ClusterRole) fails."""
    control_plane.reset(TEST_GROUPS)
    assert control_plane.audit is not None
    mark = control_plane.audit.mark()
    yield control_plane
    refused = control_plane.audit.refused(mark)
    if refused:
        counts = Counter(f"{r.grant[2]} {r.uri}" for r in refused)
        lines = "\n".join(f"  {request} ({n}x)" for request, n in counts.most_common(20))
        pytest.fail(
            f"the API server refused the operator {len(refused)} request(s) (403); "
            f"{OPERATOR_CLUSTERROLE} lacks a rule for:\n{lines}",
            pytrace=False,
        )
