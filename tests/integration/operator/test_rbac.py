"""The operator's ClusterRole grants nothing its work does not use.

Missing verbs fail every test that uses the cluster (``tests.controlplane.fixtures.kube`` fails a test
in which the API server answered the operator 403). This test covers the other direction: it drives
the operator through each kind of work it does — the examples applied, every child drifted and
repaired, a Secret rotated under a ToolCredential, an Agent's credentials rotated, a quota removed,
peering cluster-wide and per namespace — and then compares what the API server's audit log says the
operator's ServiceAccount asked for with what ``operator/deploy/clusterrole.yaml`` grants.
"""

from __future__ import annotations

from typing import Any

from oblivion_operator.models import ROTATE_ANNOTATION
from oblivion_operator.runner import PEERING_NAME, build_registry, configure_kopf
from oblivion_operator.settings import OperatorSettings
from tests.controlplane import Cluster
from tests.controlplane.audit import Grant, format_grants, granted
from tests.controlplane.fixtures import OPERATOR_CLUSTERROLE
from tests.controlplane.operator_runner import run_operator
from tests.support.operator import EXAMPLES, ready

WG, NS, AGENT = "squad-backend", "wg-squad-backend", "backend-bot"
MANAGED_BY, OPERATOR = "app.kubernetes.io/managed-by", "oblivion-operator"
PEERING_OBJECT = EXAMPLES.parent / "operator" / "deploy" / "peering.yaml"


def _labels(obj: dict[str, Any]) -> dict[str, str]:
    return dict(obj["metadata"].get("labels") or {})


def _drift_and_wait_for_repair(cluster: Cluster, resource: str, name: str, namespace: str | None) -> None:
    """Change a label the operator set on one of its children; its drift timer must put it back."""
    before = _labels(cluster.get(resource, name, namespace)).get(MANAGED_BY)
    assert before == OPERATOR, f"{resource} {name} is not labelled by the operator"
    cluster.patch(resource, name, {"metadata": {"labels": {MANAGED_BY: "someone"}}}, namespace)
    cluster.wait_for_object(
        resource,
        name,
        namespace,
        condition=lambda obj: _labels(obj).get(MANAGED_BY) == OPERATOR,
        timeout=30,
    )


def _work_cluster_wide(cluster: Cluster, settings: OperatorSettings) -> None:
    registry, _ = build_registry(settings, kube_connection=cluster.operator_connection())
    cluster.apply_file(PEERING_OBJECT)
    with run_operator(
        cluster,
        registry,
        configure=lambda s: configure_kopf(s, standalone=False),
        peering=PEERING_NAME,
    ):
        cluster.apply_file(EXAMPLES / "workgroup.yaml")
        cluster.wait_for_object("workgroups", WG, condition=ready, timeout=30)
        cluster.apply_file(EXAMPLES)
        cluster.wait_for_object("projects", "auth-refactor", NS, condition=ready, timeout=30)
        cluster.wait_for_object("agents", AGENT, NS, condition=ready, timeout=30)
        credential = cluster.wait_for_object("toolcredentials", "github", NS, condition=ready, timeout=30)

        for resource, name, namespace in (
            ("namespaces", NS, None),
            ("resourcequotas", "oblivion-quota", NS),
            ("networkpolicies.networking.k8s.io", "oblivion-default-deny", NS),
            ("serviceaccounts", f"agent-{AGENT}", NS),
            ("deployments.apps", f"agent-{AGENT}", NS),
        ):
            _drift_and_wait_for_repair(cluster, resource, name, namespace)

        # The Secret behind the ToolCredential changes: the credential is read again and re-synced.
        cluster.patch("secrets", "github-squad-backend", {"stringData": {"token": "ghp_rotated"}}, NS)
        cluster.wait_for_object(
            "toolcredentials",
            "github",
            NS,
            condition=lambda c: c["status"].get("fingerprint") != credential["status"]["fingerprint"],
            timeout=30,
        )
        # An Agent's OAuth2 credentials are rotated: its Secret is patched with the new ones.
        secret = cluster.get("secrets", f"agent-{AGENT}-credentials", NS)
        cluster.patch("agents", AGENT, {"metadata": {"annotations": {ROTATE_ANNOTATION: "now"}}}, NS)
        cluster.wait_for_object(
            "secrets",
            f"agent-{AGENT}-credentials",
            NS,
            condition=lambda s: s["data"]["client-secret"] != secret["data"]["client-secret"],
            timeout=30,
        )
        # The quota is taken off the Workgroup: its ResourceQuota goes.
        cluster.patch("workgroups", WG, {"spec": {"quota": None}})
        cluster.wait_for_deletion("resourcequotas", "oblivion-quota", NS, timeout=30)


def _work_in_one_namespace(cluster: Cluster, settings: OperatorSettings, mark: int) -> None:
    """With --namespace the operator's replicas coordinate through a KopfPeering in that namespace."""
    cluster.create(
        {
            "apiVersion": "kopf.dev/v1",
            "kind": "KopfPeering",
            "metadata": {"name": PEERING_NAME, "namespace": NS},
        }
    )
    registry, _ = build_registry(settings, kube_connection=cluster.operator_connection())
    with run_operator(
        cluster,
        registry,
        namespaces=[NS],
        configure=lambda s: configure_kopf(s, standalone=False),
        peering=PEERING_NAME,
    ):
        cluster.wait_for_object(
            "kopfpeerings.kopf.dev", PEERING_NAME, NS, condition=lambda p: p.get("status"), timeout=30
        )
        # kopf lists the namespaces, then watches them for the rest of its run; stopping it before
        # that watch began would make this test's outcome a matter of timing.
        _wait_until_used(cluster, mark, ("", "namespaces", "watch"))


def _wait_until_used(cluster: Cluster, mark: int, grant: Grant) -> None:
    assert cluster.audit is not None
    audit = cluster.audit
    cluster.wait_for(
        lambda: any(request.grant == grant for request in audit.requests(mark)),
        timeout=30,
        message=f"the operator using {format_grants([grant]).strip()}",
    )


def test_every_verb_the_clusterrole_grants_is_used(
    cluster: Cluster, operator_settings: OperatorSettings
) -> None:
    assert cluster.audit is not None, "the session's control plane audits the operator's requests"
    mark = cluster.audit.mark()
    fast = operator_settings.model_copy(update={"drift_interval_seconds": 0.5})

    _work_cluster_wide(cluster, fast)
    _work_in_one_namespace(cluster, fast, mark)

    used: set[Grant] = {request.grant for request in cluster.audit.requests(mark)}
    grants = granted(OPERATOR_CLUSTERROLE)
    unused = grants - used
    assert not unused, (
        f"{OPERATOR_CLUSTERROLE} grants what the operator never used here; remove the grant, or "
        f"drive the work that needs it in this test:\n{format_grants(unused)}"
    )
