"""Agent: credentials Secret, ServiceAccount, Deployment, NetworkPolicy, Nexus registration, rotation."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from typing import Any

from sqlalchemy import create_engine, select

from oblivion_nexus.stores import tables as t
from oblivion_operator.runner import build_registry, configure_kopf
from oblivion_operator.settings import OperatorSettings
from tests.controlplane import Cluster
from tests.controlplane.operator_runner import run_operator
from tests.secret_logs import SecretRegistry
from tests.support.operator import NexusAdmin, not_ready_because, ready, start_operator

WG = "agents-wg"
NS = "wg-agents-wg"


def _agent(name: str = "backend-bot", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "oblivion.dev/v1alpha1",
        "kind": "Agent",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "displayName": "Backend Bot",
            "aliases": [f"ai-{name}"],
            "model": {"name": "gpt-4o-mini"},
            **spec,
        },
    }


def _workgroup_namespace(cluster: Cluster, nexus_admin: NexusAdmin) -> None:
    cluster.create_namespace(NS, labels={"oblivion.dev/workgroup": WG})
    nexus_admin.client.put(f"workgroups/{WG}", json={"displayName": WG, "namespace": NS}).raise_for_status()


def _credentials(cluster: Cluster, name: str = "backend-bot") -> tuple[str, str]:
    secret = cluster.get("secrets", f"agent-{name}-credentials", NS)
    return (
        base64.b64decode(secret["data"]["client-id"]).decode(),
        base64.b64decode(secret["data"]["client-secret"]).decode(),
    )


def test_agent_gets_its_children_and_registration(
    cluster: Cluster,
    operator_settings: OperatorSettings,
    nexus_admin: NexusAdmin,
    secret_registry: SecretRegistry,
) -> None:
    _workgroup_namespace(cluster, nexus_admin)
    with start_operator(cluster, operator_settings):
        tools = [
            {"credential": "github", "actions": ["issues.*", "pulls.merge"]},
            {"credential": "status-api"},
            {"builtin": "clickup", "actions": ["tasks.get", "comments.list"]},
            {"builtin": "slack"},
        ]
        cluster.create(_agent(tools=tools))
        agent = cluster.wait_for_object("agents", "backend-bot", NS, condition=ready, timeout=30)
        client_id, client_secret = _credentials(cluster)
        secret_registry.add(client_secret)

        deployment = cluster.get("deployments.apps", "agent-backend-bot", NS)
        assert deployment["metadata"]["ownerReferences"][0]["uid"] == agent["metadata"]["uid"]
        assert (
            cluster.get("serviceaccounts", "agent-backend-bot", NS)["automountServiceAccountToken"] is False
        )
        # no ingress rule at all (the server omits the empty list): nothing may connect to the agent
        policy = cluster.get("networkpolicies.networking.k8s.io", "agent-backend-bot", NS)["spec"]
        assert "Ingress" in policy["policyTypes"]
        assert policy.get("ingress", []) == []
        registered = nexus_admin.get(f"workgroups/{WG}/agents/backend-bot")
        assert registered is not None
        assert registered["clientId"] == client_id
        assert "clientSecret" not in registered
        assert registered["tools"] == [
            {"credential": "github", "actions": ["issues.*", "pulls.merge"]},
            {"credential": "status-api", "actions": None},  # all the credential allows
            {"builtin": "clickup", "actions": ["tasks.get", "comments.list"]},
            {"builtin": "slack", "actions": None},  # every action of the built-in
        ]
        assert agent["status"]["secretName"] == "agent-backend-bot-credentials"
        assert agent["status"]["observedGeneration"] == agent["metadata"]["generation"]
        assert client_secret not in str(agent["status"])

        # what the operator did is visible as Kubernetes Events on the Agent, secrets excluded
        def agent_events() -> list[dict[str, Any]]:
            return [e for e in cluster.list("events", NS) if e["involvedObject"].get("name") == "backend-bot"]

        cluster.wait_for(
            lambda: any("Created Deployment agent-backend-bot" in e["message"] for e in agent_events()),
            timeout=30,
            message="an Event for the Deployment",
        )
        assert client_secret not in str(agent_events())
        assert client_id not in str(agent_events())


def test_agent_outside_a_workgroup_namespace_is_not_ready(
    cluster: Cluster, operator_settings: OperatorSettings
) -> None:
    with start_operator(cluster, operator_settings):
        cluster.create({**_agent(), "metadata": {"name": "stray", "namespace": "default"}})
        agent = cluster.wait_for_object(
            "agents", "stray", "default", condition=not_ready_because("NotInWorkgroup")
        )
        assert "belongs to no Workgroup" in agent["status"]["conditions"][0]["message"]
        assert cluster.find("deployments.apps", "agent-stray", "default") is None


def test_a_namespace_labelled_for_another_workgroup_cannot_register_or_unregister_its_agents(
    cluster: Cluster, operator_settings: OperatorSettings, nexus_admin: NexusAdmin
) -> None:
    # Anyone who may label namespaces could otherwise act in another team's name.
    _workgroup_namespace(cluster, nexus_admin)
    intruder = f"intruder-{uuid.uuid4().hex[:6]}"
    cluster.create_namespace(intruder, labels={"oblivion.dev/workgroup": WG})
    with start_operator(cluster, operator_settings):
        cluster.create(_agent())
        cluster.wait_for_object("agents", "backend-bot", NS, condition=ready, timeout=30)
        registered = nexus_admin.get(f"workgroups/{WG}/agents/backend-bot")
        assert registered is not None
        cluster.create({**_agent(), "metadata": {"name": "backend-bot", "namespace": intruder}})
        refused = cluster.wait_for_object(
            "agents", "backend-bot", intruder, condition=not_ready_because("NamespaceNotOwned"), timeout=30
        )
        assert f"workgroup {WG}'s namespace is {NS}" in refused["status"]["conditions"][0]["message"]
        assert cluster.find("deployments.apps", "agent-backend-bot", intruder) is None
        cluster.delete("agents", "backend-bot", intruder)
        cluster.wait_for_deletion("agents", "backend-bot", intruder, timeout=30)
    # The team's own agent is still registered, as it was: the intruder's deletion touched nothing.
    assert nexus_admin.get(f"workgroups/{WG}/agents/backend-bot") == registered


def test_rotation_annotation_regenerates_credentials_and_re_registers(
    cluster: Cluster,
    operator_settings: OperatorSettings,
    nexus_admin: NexusAdmin,
    secret_registry: SecretRegistry,
) -> None:
    _workgroup_namespace(cluster, nexus_admin)
    with start_operator(cluster, operator_settings):
        cluster.create(_agent())
        cluster.wait_for_object("agents", "backend-bot", NS, condition=ready, timeout=30)
        old_id, old_secret = _credentials(cluster)
        old_template = cluster.get("deployments.apps", "agent-backend-bot", NS)["spec"]["template"]
        secret_registry.add(old_secret)

        cluster.patch(
            "agents",
            "backend-bot",
            {"metadata": {"annotations": {"oblivion.dev/rotate-credentials": "2026-11-25"}}},
            NS,
        )
        cluster.wait_for(lambda: _credentials(cluster)[0] != old_id, timeout=30, message="rotated client id")
        new_id, new_secret = _credentials(cluster)
        secret_registry.add(new_secret)
        assert new_secret != old_secret
        cluster.wait_for(
            lambda: (nexus_admin.get(f"workgroups/{WG}/agents/backend-bot") or {}).get("clientId") == new_id,
            timeout=30,
            message="Nexus knows the new client id",
        )
        new_template = cluster.get("deployments.apps", "agent-backend-bot", NS)["spec"]["template"]
        assert new_template["metadata"]["annotations"] != old_template["metadata"]["annotations"]


def test_restarted_operator_keeps_the_same_credentials(
    cluster: Cluster, operator_settings: OperatorSettings, nexus_admin: NexusAdmin
) -> None:
    _workgroup_namespace(cluster, nexus_admin)
    with start_operator(cluster, operator_settings):
        cluster.create(_agent())
        cluster.wait_for_object("agents", "backend-bot", NS, condition=ready, timeout=30)
    first = _credentials(cluster)
    with start_operator(cluster, operator_settings):
        cluster.patch("agents", "backend-bot", {"spec": {"replicas": 2}}, NS)
        cluster.wait_for_object(
            "deployments.apps",
            "agent-backend-bot",
            NS,
            condition=lambda d: d["spec"]["replicas"] == 2,
            timeout=30,
        )
    assert _credentials(cluster) == first


def test_invalid_spec_is_reported_once_without_a_retry_storm(
    cluster: Cluster, operator_settings: OperatorSettings, nexus_admin: NexusAdmin
) -> None:
    _workgroup_namespace(cluster, nexus_admin)
    # The API refuses this spec today; an Agent stored before the CRD grew that rule still holds it.
    bad = _agent(env=[{"name": "OBLIVION_CLIENT_SECRET", "value": "mine"}])
    cluster.create_stored_before_the_schema_tightened(bad)
    with start_operator(cluster, operator_settings):
        agent = cluster.wait_for_object(
            "agents", "backend-bot", NS, condition=not_ready_because("InvalidSpec")
        )
        condition = agent["status"]["conditions"][0]
        assert "OBLIVION_CLIENT_SECRET is set by the operator" in condition["message"]
        assert condition["observedGeneration"] == agent["metadata"]["generation"]
        handled = cluster.wait_for_object(  # kopf's handling cycle is over once it records what it handled
            "agents",
            "backend-bot",
            NS,
            condition=lambda a: _HANDLED in (a["metadata"].get("annotations") or {}),
        )
        # a permanent error is not retried: while another Agent is reconciled (several of the 0.2 s
        # retry delays), the invalid one gets no further writes (any write changes its resourceVersion)
        cluster.create(_agent("other-bot"))
        cluster.wait_for_object("agents", "other-bot", NS, condition=ready, timeout=30)
        after = cluster.get("agents", "backend-bot", NS)
        assert after["metadata"]["resourceVersion"] == handled["metadata"]["resourceVersion"]
        assert cluster.find("deployments.apps", "agent-backend-bot", NS) is None

        cluster.patch(
            "agents", "backend-bot", {"spec": {"env": [{"name": "LOG_LEVEL", "value": "debug"}]}}, NS
        )
        cluster.wait_for_object("agents", "backend-bot", NS, condition=ready, timeout=30)


_HANDLED = "operator.oblivion.dev/last-handled-configuration"


def test_deleted_agent_is_unregistered_and_its_children_go_with_it(
    cluster: Cluster, operator_settings: OperatorSettings, nexus_admin: NexusAdmin
) -> None:
    _workgroup_namespace(cluster, nexus_admin)
    with start_operator(cluster, operator_settings):
        cluster.create(_agent())
        agent = cluster.wait_for_object("agents", "backend-bot", NS, condition=ready, timeout=30)
        assert "oblivion.dev/cleanup" in agent["metadata"]["finalizers"]
        cluster.delete("agents", "backend-bot", NS)
        cluster.wait_for_deletion("agents", "backend-bot", NS, timeout=30)
        # The garbage collector learns of new resource types (the Agent CRD) by rediscovery every 30 s,
        # so on a cluster just started it may take that long before it collects an Agent's children.
        cluster.wait_for_deletion("deployments.apps", "agent-backend-bot", NS, timeout=60)
        cluster.wait_for_deletion("secrets", "agent-backend-bot-credentials", NS, timeout=60)
        assert nexus_admin.get(f"workgroups/{WG}/agents/backend-bot") is None


def test_deleted_deployment_is_recreated_by_the_drift_timer(
    cluster: Cluster, operator_settings: OperatorSettings, nexus_admin: NexusAdmin
) -> None:
    _workgroup_namespace(cluster, nexus_admin)
    fast = operator_settings.model_copy(update={"drift_interval_seconds": 0.5})
    with start_operator(cluster, fast):
        cluster.create(_agent())
        cluster.wait_for_object("agents", "backend-bot", NS, condition=ready, timeout=30)
        old_uid = cluster.get("deployments.apps", "agent-backend-bot", NS)["metadata"]["uid"]
        cluster.delete("deployments.apps", "agent-backend-bot", NS)
        recreated = cluster.wait_for_object(
            "deployments.apps",
            "agent-backend-bot",
            NS,
            condition=lambda d: d["metadata"]["uid"] != old_uid,
            timeout=30,
        )
        assert recreated["spec"]["template"]["spec"]["automountServiceAccountToken"] is False


def test_ready_replicas_and_presence_reach_the_status(
    cluster: Cluster, operator_settings: OperatorSettings, nexus_admin: NexusAdmin
) -> None:
    _workgroup_namespace(cluster, nexus_admin)
    fast = operator_settings.model_copy(update={"presence_interval_seconds": 0.5})
    with start_operator(cluster, fast):
        cluster.create(_agent())
        cluster.wait_for_object("agents", "backend-bot", NS, condition=ready, timeout=30)
        cluster.mark_deployment_ready("agent-backend-bot", NS)
        agent = cluster.wait_for_object(
            "agents", "backend-bot", NS, condition=lambda a: a["status"].get("readyReplicas") == 1, timeout=20
        )
        assert agent["status"]["connected"] is False  # registered, but no agent process connected here


def test_operator_narrowed_to_a_namespace_leaves_other_namespaces_alone(
    cluster: Cluster, operator_settings: OperatorSettings, nexus_admin: NexusAdmin
) -> None:
    _workgroup_namespace(cluster, nexus_admin)
    cluster.create_namespace("wg-other", labels={"oblivion.dev/workgroup": WG})
    registry, _ = build_registry(operator_settings, kube_connection=cluster.operator_connection())
    with run_operator(
        cluster, registry, namespaces=[NS], configure=lambda s: configure_kopf(s, standalone=True)
    ):
        cluster.create({**_agent("outside"), "metadata": {"name": "outside", "namespace": "wg-other"}})
        cluster.create(_agent("inside"))
        cluster.wait_for_object("agents", "inside", NS, condition=ready, timeout=30)
        assert not cluster.get("agents", "outside", "wg-other").get("status")
        assert cluster.find("deployments.apps", "agent-outside", "wg-other") is None


def test_an_agent_whose_workgroup_is_not_yet_in_nexus_is_retried_by_kopf_until_it_is(
    cluster: Cluster, operator_settings: OperatorSettings, nexus_admin: NexusAdmin
) -> None:
    # `kubectl apply -f examples/` at once: the Workgroup labels its namespace before it registers
    # the tenant, so an Agent can reach Nexus first. The drift timer is an hour away here: only kopf's
    # own retry can make the Agent Ready.
    workgroup = f"late-{uuid.uuid4().hex[:8]}"
    namespace = f"wg-{workgroup}"
    cluster.create_namespace(namespace, labels={"oblivion.dev/workgroup": workgroup})
    agent = _agent("late-bot")
    agent["metadata"]["namespace"] = namespace
    with start_operator(cluster, operator_settings):
        cluster.create(agent)
        waiting = cluster.wait_for_object(
            "agents", "late-bot", namespace, condition=not_ready_because("WorkgroupNotRegistered"), timeout=30
        )
        assert "not registered in Nexus yet" in waiting["status"]["conditions"][0]["message"]
        nexus_admin.client.put(
            f"workgroups/{workgroup}", json={"displayName": workgroup, "namespace": namespace}
        ).raise_for_status()
        cluster.wait_for_object("agents", "late-bot", namespace, condition=ready, timeout=60)
    assert nexus_admin.get(f"workgroups/{workgroup}/agents/late-bot") is not None


def test_model_and_budget_reach_nexus_and_todays_tokens_reach_the_status(
    cluster: Cluster, operator_settings: OperatorSettings, nexus_admin: NexusAdmin, postgres_url: str
) -> None:
    _workgroup_namespace(cluster, nexus_admin)
    fast = operator_settings.model_copy(update={"presence_interval_seconds": 0.5})
    with start_operator(cluster, fast):
        cluster.create(
            _agent(
                model={"provider": "anthropic", "name": "claude-sonnet-4", "credential": "claude-key"},
                budget={"tokensPerTask": 20000, "tokensPerDay": 500000},
                instructions="Answer in English.",
            )
        )
        cluster.wait_for_object("agents", "backend-bot", NS, condition=ready, timeout=30)
        registered = nexus_admin.get(f"workgroups/{WG}/agents/backend-bot")
        assert registered is not None
        assert registered["model"] == {
            "provider": "anthropic",
            "name": "claude-sonnet-4",
            "endpoint": None,
            "credential": "claude-key",
        }
        assert registered["budget"] == {"tokensPerTask": 20000, "tokensPerDay": 500000}
        env = cluster.get("deployments.apps", "agent-backend-bot", NS)["spec"]["template"]["spec"][
            "containers"
        ][0]["env"]
        assert {"name": "OBLIVION_AGENT_INSTRUCTIONS", "value": "Answer in English."} in env

        # two calls through the model gateway today, as Nexus records them
        engine = create_engine(postgres_url)
        try:
            with engine.begin() as conn:
                agent_id = conn.execute(
                    select(t.Agent.id).where(t.Agent.workgroup == WG, t.Agent.name == "backend-bot")
                ).scalar_one()
                for prompt, completion in ((1200, 300), (800, 200)):
                    conn.execute(
                        t.ModelUsage.__table__.insert().values(
                            day=dt.datetime.now(dt.UTC).date(),
                            workgroup=WG,
                            agent="backend-bot",
                            agent_id=agent_id,
                            task_id=None,
                            provider="anthropic",
                            model="claude-sonnet-4",
                            prompt_tokens=prompt,
                            completion_tokens=completion,
                            cost_usd=None,
                        )
                    )
        finally:
            engine.dispose()
        agent = cluster.wait_for_object(
            "agents",
            "backend-bot",
            NS,
            condition=lambda a: (a["status"].get("usage") or {}).get("tokensToday") == 2500,
            timeout=20,
        )
        assert agent["status"]["usage"]["calls"] == 2
