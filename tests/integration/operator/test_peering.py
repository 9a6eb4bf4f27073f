"""With kopf peering (as deployed with several replicas) the operator announces itself and reconciles."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from oblivion_operator.runner import PEERING_NAME, build_registry, configure_kopf
from oblivion_operator.settings import OperatorSettings
from tests.controlplane import Cluster
from tests.controlplane.operator_runner import run_operator
from tests.support.operator import ready

PEERING_OBJECT = Path(__file__).resolve().parents[3] / "operator" / "deploy" / "peering.yaml"


@contextlib.contextmanager
def _peered_operator(cluster: Cluster, settings: OperatorSettings) -> Iterator[Any]:
    registry, _ = build_registry(settings, kube_connection=cluster.operator_connection())
    configure = lambda s: configure_kopf(s, standalone=False)  # noqa: E731
    with run_operator(cluster, registry, configure=configure, peering=PEERING_NAME) as run:
        yield run


def test_operator_with_peering_registers_in_the_peering_object_and_reconciles(
    cluster: Cluster, operator_settings: OperatorSettings
) -> None:
    cluster.apply_file(PEERING_OBJECT)
    with _peered_operator(cluster, operator_settings):
        peering = cluster.wait_for_object(
            "clusterkopfpeerings.kopf.dev",
            PEERING_NAME,
            condition=lambda p: p.get("status") or {},
            timeout=30,
        )
        cluster.create(
            {
                "apiVersion": "oblivion.dev/v1alpha1",
                "kind": "Workgroup",
                "metadata": {"name": "wg-peered"},
                "spec": {"slack": {"channelName": "wg-peered"}},
            }
        )
        cluster.wait_for_object("workgroups", "wg-peered", condition=ready, timeout=30)
    assert peering["status"]  # this operator's identity, priority and lifetime
