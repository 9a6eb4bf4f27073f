"""`oblivion operator` without `--standalone` on a cluster lacking kopf's peering CRD (or the peering
object) says what is missing and what to do, and exits, instead of waiting silently and reconciling
nothing. A control plane of its own, with only Oblivion's CRDs, so the session's keeps its peering.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.controlplane import Cluster
from tests.controlplane.process import REPO_ROOT, control_plane

EXIT_DEADLINE_SECONDS = 60


@pytest.fixture(scope="module")
def bare_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A started control plane with Oblivion's CRDs and none of kopf's."""
    with control_plane(tmp_path_factory.mktemp("bare-controlplane")) as running:
        cluster = Cluster(running.kubeconfig_path)
        try:
            cluster.apply_file(REPO_ROOT / "crds", server_side=True)
            yield cluster
        finally:
            cluster.close()


def run_operator_command(cluster: Cluster, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OBLIVION_")}
    env.update(
        {
            "KUBECONFIG": str(cluster.kubeconfig_path),
            # Never reached: the operator stops before it talks to Nexus or Qdrant.
            "OBLIVION_NEXUS_URL": "http://127.0.0.1:9",
            "OBLIVION_ADMIN_TOKEN": "not-used-by-this-test",
            "OBLIVION_QDRANT_PATH": str(tmp_path / "qdrant"),
        }
    )
    command = [str(Path(sys.executable).parent / "oblivion"), "operator", "--liveness", "", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=EXIT_DEADLINE_SECONDS)


def test_without_the_peering_crd_the_operator_says_what_to_install_and_exits(
    bare_cluster: Cluster, tmp_path: Path
) -> None:
    result = run_operator_command(bare_cluster, tmp_path)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "clusterkopfpeerings.kopf.dev is not installed" in result.stderr
    assert "--standalone" in result.stderr


def test_watching_namespaces_names_the_namespaced_peering_crd(bare_cluster: Cluster, tmp_path: Path) -> None:
    result = run_operator_command(bare_cluster, tmp_path, "--namespace", "wg-a")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "kopfpeerings.kopf.dev is not installed" in result.stderr
