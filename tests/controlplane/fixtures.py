"""pytest plugin: the ``control_plane`` session fixture and the per-test ``kube`` fixture.

Registered from ``tests/conftest.py`` (``pytest_plugins``). One real control plane serves the whole
session (starting one takes seconds, not milliseconds): the CRDs of ``crds/`` and kopf's peering CRDs
are applied once with the real kubectl, server-side, and the operator's ServiceAccount is bound to
``operator/deploy/clusterrole.yaml``. Each test that asks for ``kube`` starts from a cluster with
none of the previous test's custom resources or namespaces.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.controlplane import process
from tests.controlplane.cluster import Cluster
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


@contextmanager
def control_plane_cluster(workdir: Path) -> Iterator[Cluster]:
    """A started control plane with the CRDs and the operator's identity (also for benchmarks)."""
    with process.control_plane(workdir) as running:
        cluster = Cluster(running.kubeconfig_path)
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
    with control_plane_cluster(workdir) as cluster:
        yield cluster


@pytest.fixture
def kube(control_plane: Cluster) -> Cluster:
    """The control plane, emptied of what earlier tests made."""
    control_plane.reset(TEST_GROUPS)
    return control_plane
