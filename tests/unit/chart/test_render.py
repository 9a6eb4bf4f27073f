"""The chart renders, validates against the Kubernetes schemas and is locked down in every scenario."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest

from tests.support.chart import CHART, SCENARIOS, objects_of, render_chart, run_helm

# Objects that run to completion: probes make no sense for them.
RUN_TO_COMPLETION = {"Job", "Pod"}


def _pod_specs(obj: dict[str, Any]) -> list[dict[str, Any]]:
    if obj["kind"] == "Pod":
        return [obj["spec"]]
    if obj["kind"] in {"Deployment", "StatefulSet", "Job"}:
        return [obj["spec"]["template"]["spec"]]
    return []


def _containers(obj: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    named = []
    for spec in _pod_specs(obj):
        for c in spec.get("initContainers", []) + spec["containers"]:
            named.append((f"{obj['kind']}/{obj['metadata']['name']}/{c['name']}", c))
    return named


def test_the_three_ci_scenarios_exist() -> None:
    assert SCENARIOS == ["default", "kind", "production-external"]


def test_helm_lint_passes_for_every_scenario() -> None:
    for name in SCENARIOS:
        result = run_helm(
            "lint", "--strict", str(CHART), "--values", str(CHART / "ci" / f"{name}-values.yaml")
        )
        assert result.returncode == 0, f"helm lint ({name}):\n{result.stdout}\n{result.stderr}"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_rendered_object_passes_strict_kubernetes_validation(
    scenario: str, rendered: dict[str, list[dict[str, Any]]]
) -> None:
    problems = []
    for obj in rendered[scenario]:
        try:
            kubernetes_validate.validate(obj, "1.33", strict=True)
        except kubernetes_validate.ValidationError as e:
            problems.append(f"{obj['kind']}/{obj['metadata']['name']}: {e.message} at {list(e.path)}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_rbac_grants_no_wildcards(scenario: str, rendered: dict[str, list[dict[str, Any]]]) -> None:
    rules = [
        rule for obj in rendered[scenario] if obj["kind"] in {"ClusterRole", "Role"} for rule in obj["rules"]
    ]
    assert rules, "the operator's ClusterRole is missing"
    for rule in rules:
        for field in ("apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs"):
            assert "*" not in rule.get(field, []), f"wildcard in {field}: {rule}"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_container_has_resources_probes_and_a_restrictive_security_context(
    scenario: str, rendered: dict[str, list[dict[str, Any]]]
) -> None:
    containers = [(obj, *named) for obj in rendered[scenario] for named in _containers(obj)]
    assert len(containers) >= 3
    for obj, name, c in containers:
        resources = c.get("resources", {})
        assert {"cpu", "memory"} <= set(resources.get("requests", {})), f"{name}: no requests"
        assert "memory" in resources.get("limits", {}), f"{name}: no memory limit"
        is_init = any(c in spec.get("initContainers", []) for spec in _pod_specs(obj))
        if obj["kind"] not in RUN_TO_COMPLETION and not is_init:
            assert "livenessProbe" in c, f"{name}: no liveness probe"
            assert "readinessProbe" in c, f"{name}: no readiness probe"
        sc = c.get("securityContext", {})
        assert sc.get("allowPrivilegeEscalation") is False, f"{name}: privilege escalation allowed"
        assert sc.get("readOnlyRootFilesystem") is True, f"{name}: writable root filesystem"
        assert sc.get("capabilities", {}).get("drop") == ["ALL"], f"{name}: capabilities not dropped"
        assert not sc.get("privileged"), f"{name}: privileged"
        pod_sc = next(spec.get("securityContext", {}) for spec in _pod_specs(obj))
        assert sc.get("runAsNonRoot") or pod_sc.get("runAsNonRoot"), f"{name}: may run as root"
        assert pod_sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", f"{name}: no seccomp"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_nexus_worker_and_operator_each_have_a_network_policy(
    scenario: str, rendered: dict[str, list[dict[str, Any]]]
) -> None:
    selected = {
        obj["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
        for obj in rendered[scenario]
        if obj["kind"] == "NetworkPolicy"
    }
    assert {"nexus", "worker", "operator", "migrations"} <= selected


def test_a_mistyped_value_key_fails_schema_validation() -> None:
    with pytest.raises(AssertionError, match="replicaz"):
        render_chart(sets=("nexus.replicaz=3",))
    with pytest.raises(AssertionError, match="tagg"):
        render_chart(sets=("operator.image.tagg=v1",))
    with pytest.raises(AssertionError, match="instal"):
        render_chart(sets=("crds.instal=false",))


def test_a_wrongly_typed_value_fails_schema_validation() -> None:
    with pytest.raises(AssertionError, match="replicas"):
        render_chart(sets=("worker.replicas=many",))


def test_external_data_services_without_urls_fail_with_the_key_to_set() -> None:
    with pytest.raises(AssertionError, match=r"postgresql\.external\.url"):
        render_chart(sets=("postgresql.enabled=false",))
    with pytest.raises(AssertionError, match=r"qdrant\.external\.url"):
        render_chart(sets=("qdrant.enabled=false",))


def test_crds_are_kept_on_uninstall_and_can_be_left_out() -> None:
    crds = [o for o in objects_of(render_chart()) if o["kind"] == "CustomResourceDefinition"]
    assert {c["spec"]["names"]["kind"] for c in crds} == {"Workgroup", "Project", "Agent", "ToolCredential"}
    assert all(c["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep" for c in crds)
    assert all(
        c["metadata"]["annotations"]["argocd.argoproj.io/sync-options"] == "Delete=false" for c in crds
    )

    unkept = [
        o
        for o in objects_of(render_chart(sets=("crds.keep=false",)))
        if o["kind"] == "CustomResourceDefinition"
    ]
    assert all("helm.sh/resource-policy" not in c["metadata"].get("annotations", {}) for c in unkept)
    assert len(unkept) == 4

    kinds = {o["kind"] for o in objects_of(render_chart(sets=("crds.install=false",)))}
    assert "CustomResourceDefinition" not in kinds


def test_an_existing_secret_replaces_the_generated_one() -> None:
    objs = objects_of(render_chart(CHART / "ci" / "production-external-values.yaml"))
    assert not [o for o in objs if o["kind"] == "Secret"]
    nexus = next(o for o in objs if o["kind"] == "Deployment" and o["metadata"]["name"].endswith("-nexus"))
    refs = {
        e["name"]: e["valueFrom"]["secretKeyRef"]
        for e in nexus["spec"]["template"]["spec"]["containers"][0]["env"]
        if "valueFrom" in e
    }
    assert refs["OBLIVION_DATABASE_URL"] == {"name": "oblivion-secrets", "key": "database-url"}
    assert refs["OBLIVION_REDIS_URL"] == {"name": "oblivion-secrets", "key": "redis-url"}
    assert refs["OBLIVION_MASTER_KEY"] == {"name": "oblivion-secrets", "key": "master-key"}


def test_generated_secret_values_are_strong_and_well_formed() -> None:
    import base64

    secret = next(o for o in objects_of(render_chart()) if o["kind"] == "Secret")
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert set(data) == {"admin-token", "jwt-signing-key", "master-key", "postgres-password"}
    assert len(data["jwt-signing-key"]) >= 32
    key_id, _, key = data["master-key"].partition(":")
    assert key_id == "k1"
    assert len(base64.b64decode(key, validate=True)) == 32
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_given_secret_values_are_used_and_never_regenerated() -> None:
    import base64

    manifest = render_chart(sets=("secrets.adminToken=adm-fixed", "secrets.slackBotToken=xoxb-1"))
    secret = next(o for o in objects_of(manifest) if o["kind"] == "Secret")
    assert base64.b64decode(secret["data"]["admin-token"]).decode() == "adm-fixed"
    assert base64.b64decode(secret["data"]["slack-bot-token"]).decode() == "xoxb-1"


def test_webhooks_are_routed_to_nexus_by_the_ingress() -> None:
    objs = objects_of(render_chart(CHART / "ci" / "production-external-values.yaml"))
    ingress = next(o for o in objs if o["kind"] == "Ingress")
    paths = ingress["spec"]["rules"][0]["http"]["paths"]
    assert [(p["path"], p["pathType"]) for p in paths] == [("/webhooks", "Prefix")]
    assert paths[0]["backend"]["service"]["name"] == "obl-oblivion-nexus"
    assert ingress["spec"]["tls"][0]["secretName"] == "oblivion-tls"


def test_migrations_run_after_install_with_the_bundled_database_and_before_it_with_an_external_one() -> None:
    bundled = next(o for o in objects_of(render_chart()) if o["kind"] == "Job")
    assert bundled["metadata"]["annotations"]["helm.sh/hook"] == "post-install,pre-upgrade"
    assert bundled["spec"]["template"]["spec"]["containers"][0]["args"] == ["nexus", "migrate"]
    external = next(
        o
        for o in objects_of(render_chart(CHART / "ci" / "production-external-values.yaml"))
        if o["kind"] == "Job"
    )
    assert external["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"


def test_helm_test_hook_checks_readyz() -> None:
    pod = next(o for o in objects_of(render_chart()) if o["kind"] == "Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert "http://obl-oblivion-nexus.oblivion.svc:8080/readyz" in pod["spec"]["containers"][0]["command"][-1]


def test_kind_values_expose_nexus_on_the_node_port_kind_maps_to_the_host() -> None:
    import yaml

    objs = objects_of(render_chart(CHART / "values-kind.yaml"))
    service = next(o for o in objs if o["kind"] == "Service" and o["metadata"]["name"].endswith("-nexus"))
    assert service["spec"]["type"] == "NodePort"
    kind_config = yaml.safe_load((CHART.parents[1] / "kind-config.yaml").read_text())
    mapped = {m["containerPort"] for node in kind_config["nodes"] for m in node.get("extraPortMappings", [])}
    assert service["spec"]["ports"][0]["nodePort"] in mapped


def test_one_operator_runs_standalone_and_several_get_kopf_peering() -> None:
    def operator_args(objs: list[dict[str, Any]]) -> list[str]:
        deployment = next(
            o for o in objs if o["kind"] == "Deployment" and o["metadata"]["name"].endswith("operator")
        )
        args: list[str] = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        return args

    single = objects_of(render_chart())
    assert "--standalone" in operator_args(single)
    assert not [o for o in single if o["apiVersion"].startswith("kopf.dev")]

    several = objects_of(render_chart(sets=("operator.replicas=3",)))
    assert "--standalone" not in operator_args(several)
    crds = {o["metadata"]["name"] for o in several if o["kind"] == "CustomResourceDefinition"}
    assert {"clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev"} <= crds
    for crd in (o for o in several if o["kind"] == "CustomResourceDefinition"):
        kubernetes_validate.validate(crd, "1.33", strict=True)
    peering = next(o for o in several if o["kind"] == "ClusterKopfPeering")
    assert peering["metadata"]["name"] == "oblivion"  # the name the operator's runner looks for
    assert peering["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"


def test_notes_tell_what_to_run_next_with_the_real_names() -> None:
    result = run_helm("install", "obl", str(CHART), "--namespace", "oblivion", "--dry-run=client")
    assert result.returncode == 0, result.stderr
    notes = result.stdout.split("NOTES:", 1)[1]
    assert "deployment -l app.kubernetes.io/instance=obl" in notes
    assert "helm test obl -n oblivion" in notes
    assert "service/obl-oblivion-nexus" in notes
    assert "Secret obl-oblivion-secrets" in notes


def test_kind_values_need_no_slack_token_and_the_operator_reads_it_only_when_given() -> None:
    objs = objects_of(render_chart(CHART / "values-kind.yaml"))
    secret = next(o for o in objs if o["kind"] == "Secret")
    assert "slack-bot-token" not in (secret.get("data") or {})
    operator = next(
        o for o in objs if o["kind"] == "Deployment" and o["metadata"]["name"].endswith("operator")
    )
    env = {e["name"]: e for e in operator["spec"]["template"]["spec"]["containers"][0].get("env", [])}
    token = env["OBLIVION_SLACK_BOT_TOKEN"]["valueFrom"]["secretKeyRef"]
    assert (token["key"], token["optional"]) == ("slack-bot-token", True)


def test_notes_say_slack_channels_need_a_token_only_when_none_is_given() -> None:
    def notes(*sets: str) -> str:
        args = [a for s in sets for a in ("--set", s)]
        result = run_helm("install", "obl", str(CHART), "-n", "oblivion", "--dry-run=client", *args)
        assert result.returncode == 0, result.stderr
        return result.stdout.split("NOTES:", 1)[1]

    assert "No Slack bot token is set" in notes()
    assert "SlackNotConfigured" in notes()
    assert "No Slack bot token" not in notes("secrets.slackBotToken=xoxb-1")
    assert "No Slack bot token" not in notes("secrets.existingSecret=mine")
