"""The official kubernetes client against the emulator: CRUD, errors, selectors, watches, discovery."""

from __future__ import annotations

import asyncio
import base64
import json
import pathlib
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import kmock
import kubernetes
import pytest
import yaml
from kubernetes.client import ApiException

from tests.kube import KubeApi, serve_kube_api
from tests.kube.throughput import measure_throughput

Client = kubernetes.client.ApiClient
REPO = pathlib.Path(__file__).resolve().parents[3]


@pytest.fixture
def client(kube_api: KubeApi) -> Iterator[Client]:
    config = kubernetes.client.Configuration()
    config.host = kube_api.url
    with kubernetes.client.ApiClient(config) as api_client:
        yield api_client


def _watch() -> Any:
    return kubernetes.watch.Watch()  # type: ignore[no-untyped-call]


def _get(kube_api: KubeApi, path: str, **params: str) -> dict[str, Any]:
    response = httpx.get(kube_api.url + path, params=params)
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def _status(error: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(error.body or "{}")
    return body


def test_created_objects_get_server_set_metadata_and_201(kube_api: KubeApi, client: Client) -> None:
    core: Any = kubernetes.client.CoreV1Api(client)
    _, status, _ = core.create_namespaced_config_map_with_http_info(
        "default", {"metadata": {"generateName": "settings-"}, "data": {"a": "1"}}
    )
    assert status == 201
    [stored] = kube_api.list("configmaps", "default")
    meta = stored["metadata"]
    assert meta["name"].startswith("settings-")
    assert len(meta["name"]) == len("settings-") + 5
    assert meta["uid"]
    assert meta["creationTimestamp"].endswith("Z")
    assert meta["namespace"] == "default"
    assert meta["generation"] == 1
    assert stored["kind"] == "ConfigMap"
    assert stored["apiVersion"] == "v1"


def test_duplicates_and_missing_objects_get_standard_status_errors(client: Client) -> None:
    core: Any = kubernetes.client.CoreV1Api(client)
    core.create_namespaced_secret("default", {"metadata": {"name": "creds"}})
    with pytest.raises(ApiException) as duplicate:
        core.create_namespaced_secret("default", {"metadata": {"name": "creds"}})
    assert duplicate.value.status == 409
    assert _status(duplicate.value)["reason"] == "AlreadyExists"
    assert _status(duplicate.value)["details"] == {"name": "creds", "kind": "secrets"}
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_secret("nope", "default")
    assert missing.value.status == 404
    assert _status(missing.value)["reason"] == "NotFound"
    assert _status(missing.value)["message"] == 'secrets "nope" not found'
    with pytest.raises(ApiException) as nowhere:
        core.create_namespaced_secret("ghost-town", {"metadata": {"name": "creds"}})
    assert nowhere.value.status == 404
    with pytest.raises(ApiException) as bad_selector:
        core.list_namespaced_secret("default", label_selector="a in b")
    assert _status(bad_selector.value)["reason"] == "BadRequest"


def test_secret_string_data_is_stored_as_base64_data(client: Client) -> None:
    core: Any = kubernetes.client.CoreV1Api(client)
    core.create_namespaced_secret(
        "default", {"metadata": {"name": "token"}, "stringData": {"value": "s3cr3t"}}
    )
    secret = core.read_namespaced_secret("token", "default")
    assert secret.data == {"value": base64.b64encode(b"s3cr3t").decode()}
    assert secret.type == "Opaque"
    assert not hasattr(secret, "string_data") or secret.string_data is None


def test_resource_version_moves_on_every_write_and_generation_only_on_spec(kube_api: KubeApi) -> None:
    kube_api.register_crds()
    created = kube_api.create(
        {
            "apiVersion": "oblivion.dev/v1alpha1",
            "kind": "Workgroup",
            "metadata": {"name": "squad"},
            "spec": {"displayName": "Squad"},
        }
    )
    labelled = kube_api.patch("workgroups", "squad", {"metadata": {"labels": {"team": "a"}}})
    with_status = kube_api.patch(
        "workgroups", "squad", {"status": {"namespace": "wg-squad"}}, subresource="status"
    )
    respecced = kube_api.patch("workgroups", "squad", {"spec": {"displayName": "Squad B"}})
    versions = [int(o["metadata"]["resourceVersion"]) for o in (created, labelled, with_status, respecced)]
    assert versions == sorted(versions)
    assert len(set(versions)) == 4
    assert [o["metadata"]["generation"] for o in (created, labelled, with_status, respecced)] == [1, 1, 1, 2]
    same = kube_api.patch("workgroups", "squad", {"spec": {"displayName": "Squad B"}})
    assert same["metadata"]["resourceVersion"] == respecced["metadata"]["resourceVersion"]


def test_status_subresource_separates_status_from_the_main_resource(
    kube_api: KubeApi, client: Client
) -> None:
    kube_api.register_crds()
    custom: Any = kubernetes.client.CustomObjectsApi(client)
    body = {
        "apiVersion": "oblivion.dev/v1alpha1",
        "kind": "Workgroup",
        "metadata": {"name": "wg"},
        "spec": {"displayName": "WG"},
        "status": {"namespace": "forged"},
    }
    created = custom.create_cluster_custom_object("oblivion.dev", "v1alpha1", "workgroups", body)
    assert "status" not in created
    custom.patch_cluster_custom_object(
        "oblivion.dev",
        "v1alpha1",
        "workgroups",
        "wg",
        {"status": {"namespace": "ignored"}, "spec": {"displayName": "WG2"}},
    )
    patched = custom.patch_cluster_custom_object_status(
        "oblivion.dev",
        "v1alpha1",
        "workgroups",
        "wg",
        {"status": {"namespace": "wg-wg"}, "spec": {"displayName": "Ignored"}},
    )
    assert patched["status"] == {"namespace": "wg-wg"}
    assert patched["spec"]["displayName"] == "WG2"


def test_a_failed_json_patch_test_on_resource_version_is_422(kube_api: KubeApi, client: Client) -> None:
    core: Any = kubernetes.client.CoreV1Api(client)
    cm = core.create_namespaced_config_map("default", {"metadata": {"name": "x", "finalizers": ["a/b"]}})
    stale = cm.metadata.resource_version
    core.patch_namespaced_config_map("x", "default", {"data": {"k": "v"}})
    ops = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": stale},
        {"op": "remove", "path": "/metadata/finalizers/0"},
    ]
    with pytest.raises(ApiException) as conflict:
        core.patch_namespaced_config_map("x", "default", ops)
    assert conflict.value.status == 422
    assert _status(conflict.value)["reason"] == "Invalid"
    assert kube_api.get("configmaps", "x", "default")["metadata"]["finalizers"] == ["a/b"]


def test_put_replaces_and_a_stale_resource_version_conflicts(client: Client) -> None:
    apps: Any = kubernetes.client.AppsV1Api(client)
    deployment = {
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1"}]},
            },
        },
    }
    created = apps.create_namespaced_deployment("default", deployment)
    assert created.spec.replicas == 1
    created.spec.template.spec.containers[0].image = "nginx:2"
    replaced = apps.replace_namespaced_deployment("web", "default", created)
    assert replaced.metadata.generation == 2
    assert replaced.metadata.uid == created.metadata.uid
    with pytest.raises(ApiException) as stale:
        apps.replace_namespaced_deployment("web", "default", created)
    assert stale.value.status == 409
    assert _status(stale.value)["reason"] == "Conflict"
    patched = apps.patch_namespaced_deployment(
        "web",
        "default",
        {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:3"}]}}}},
    )
    assert [c.image for c in patched.spec.template.spec.containers] == ["nginx:3"]


def test_lists_carry_kind_and_resource_version_and_honour_selectors(
    kube_api: KubeApi, client: Client
) -> None:
    core: Any = kubernetes.client.CoreV1Api(client)
    for name, tier in (("a", "web"), ("b", "db"), ("c", "web")):
        core.create_namespaced_config_map("default", {"metadata": {"name": name, "labels": {"tier": tier}}})
    raw = _get(kube_api, "/api/v1/namespaces/default/configmaps", labelSelector="tier=web")
    assert raw["kind"] == "ConfigMapList"
    assert raw["apiVersion"] == "v1"
    assert int(raw["metadata"]["resourceVersion"]) > 0
    assert [i["metadata"]["name"] for i in raw["items"]] == ["a", "c"]
    names = [
        i.metadata.name
        for i in core.list_namespaced_config_map("default", label_selector="tier notin (web)").items
    ]
    assert names == ["b"]
    assert [
        i.metadata.name
        for i in core.list_config_map_for_all_namespaces(field_selector="metadata.name=c").items
    ] == ["c"]
    first = core.list_namespaced_config_map("default", limit=2)
    rest = core.list_namespaced_config_map("default", limit=2, _continue=first.metadata._continue)
    assert [i.metadata.name for i in first.items + rest.items] == ["a", "b", "c"]


def test_watch_from_a_resource_version_sends_only_newer_events(client: Client) -> None:
    core: Any = kubernetes.client.CoreV1Api(client)
    core.create_namespaced_config_map("default", {"metadata": {"name": "old"}})
    listed = core.list_namespaced_config_map("default")
    core.create_namespaced_config_map("default", {"metadata": {"name": "new", "labels": {"w": "1"}}})
    core.delete_namespaced_config_map("new", "default")
    watch = _watch()
    events = [
        (e["type"], e["object"].metadata.name)
        for e in watch.stream(
            core.list_namespaced_config_map,
            "default",
            resource_version=listed.metadata.resource_version,
            timeout_seconds=1,
        )
    ]
    assert events == [("ADDED", "new"), ("DELETED", "new")]
    selected = [
        (e["type"], e["object"].metadata.name)
        for e in _watch().stream(
            core.list_namespaced_config_map, "default", label_selector="w=1", timeout_seconds=1
        )
    ]
    assert selected == []


def test_watch_without_a_resource_version_starts_with_the_current_objects(client: Client) -> None:
    core: Any = kubernetes.client.CoreV1Api(client)
    core.create_namespaced_config_map("default", {"metadata": {"name": "present"}})
    watch = _watch()
    seen: list[tuple[str, str]] = []

    def later() -> None:
        core.create_namespaced_config_map("default", {"metadata": {"name": "arrived"}})

    for event in watch.stream(core.list_namespaced_config_map, "default", timeout_seconds=5):
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == 1:
            threading.Thread(target=later).start()
        if len(seen) == 2:
            watch.stop()
    assert seen == [("ADDED", "present"), ("ADDED", "arrived")]


def test_an_expired_resource_version_ends_the_watch_with_410(kube_api: KubeApi, client: Client) -> None:
    kube_api.compact(10_000)
    response = httpx.get(
        kube_api.url + "/api/v1/namespaces/default/configmaps",
        params={"watch": "true", "resourceVersion": "5"},
    )
    event = json.loads(response.text.splitlines()[0])
    assert event["type"] == "ERROR"
    assert event["object"]["code"] == 410
    assert event["object"]["reason"] == "Expired"


def test_deleting_an_owner_collects_its_dependents_and_finalizers_hold_deletion(kube_api: KubeApi) -> None:
    owner = kube_api.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "owner", "namespace": "default", "finalizers": ["x/y"]},
        }
    )
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}
    kube_api.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "child", "namespace": "default", "ownerReferences": [ref]},
        }
    )
    held = kube_api.delete("configmaps", "owner", "default")
    assert held["metadata"]["deletionTimestamp"]
    assert kube_api.find("secrets", "child", "default") is not None
    with pytest.raises(Exception, match="no new finalizers"):
        kube_api.patch("configmaps", "owner", {"metadata": {"finalizers": ["x/y", "late/one"]}}, "default")
    kube_api.patch("configmaps", "owner", {"metadata": {"finalizers": None}}, "default")
    assert kube_api.find("configmaps", "owner", "default") is None
    assert kube_api.find("secrets", "child", "default") is None


def test_deleting_a_namespace_empties_it_first(kube_api: KubeApi, client: Client) -> None:
    core: Any = kubernetes.client.CoreV1Api(client)
    core.create_namespace({"metadata": {"name": "wg-squad"}})
    assert core.read_namespace("wg-squad").metadata.labels == {"kubernetes.io/metadata.name": "wg-squad"}
    core.create_namespaced_config_map("wg-squad", {"metadata": {"name": "held", "finalizers": ["x/y"]}})
    core.delete_namespace("wg-squad")
    assert core.read_namespace("wg-squad").status.phase == "Terminating"
    with pytest.raises(ApiException) as refused:
        core.create_namespaced_config_map("wg-squad", {"metadata": {"name": "late"}})
    assert refused.value.status == 403
    core.patch_namespaced_config_map("held", "wg-squad", {"metadata": {"finalizers": None}})
    assert kube_api.find("namespaces", "wg-squad") is None


def test_a_posted_crd_is_served_and_discoverable(client: Client, kube_api: KubeApi) -> None:
    kube_api.register_crds()
    discovery = _get(kube_api, "/apis/oblivion.dev/v1alpha1")
    agents = next(r for r in discovery["resources"] if r["name"] == "agents")
    assert agents["namespaced"] is True
    assert agents["kind"] == "Agent"
    assert "oblivion" in agents["categories"]
    assert agents["shortNames"]
    assert any(r["name"] == "agents/status" for r in discovery["resources"])
    groups = _get(kube_api, "/apis")
    assert "oblivion.dev" in [g["name"] for g in groups["groups"]]
    core = _get(kube_api, "/api/v1")
    assert {"namespaces", "secrets", "serviceaccounts", "events", "configmaps"} <= {
        r["name"] for r in core["resources"]
    }
    version: Any = kubernetes.client.VersionApi(client).get_code()
    assert version.major == "1"


def test_events_are_accepted_in_both_api_groups(client: Client) -> None:
    core: Any = kubernetes.client.CoreV1Api(client)
    core.create_namespaced_event(
        "default",
        {
            "metadata": {"generateName": "wg."},
            "reason": "Created",
            "involvedObject": {"kind": "Workgroup", "name": "wg"},
        },
    )
    events: Any = kubernetes.client.EventsV1Api(client)
    events.create_namespaced_event(
        "default",
        {
            "metadata": {"name": "e1"},
            "eventTime": "2026-01-01T00:00:00.000000Z",
            "reason": "Synced",
            "action": "Sync",
            "reportingController": "oblivion",
            "reportingInstance": "op",
        },
    )
    assert [e.reason for e in core.list_namespaced_event("default").items] == ["Created"]


def test_kubelet_helper_marks_deployments_ready(kube_api: KubeApi) -> None:
    kube_api.create(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "agent", "namespace": "default"},
            "spec": {"replicas": 2},
        }
    )
    ready = kube_api.mark_deployment_ready("agent", "default")
    assert ready["status"]["readyReplicas"] == 2
    kube_api.start_kubelet()
    kube_api.create(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "auto", "namespace": "default"},
            "spec": {"replicas": 3},
        }
    )
    kube_api.wait_for_object(
        "deployments", "auto", "default", condition=lambda d: d.get("status", {}).get("readyReplicas") == 3
    )


def test_requests_are_counted(kube_api: KubeApi, client: Client) -> None:
    before = kube_api.request_count()
    kubernetes.client.CoreV1Api(client).list_namespace()
    assert kube_api.request_count() == before + 1
    assert kube_api.request_count("GET") >= 1


def test_injected_faults_hit_only_matching_requests_and_run_out(kube_api: KubeApi, client: Client) -> None:
    core: Any = kubernetes.client.CoreV1Api(client)
    core.create_namespaced_config_map("default", {"metadata": {"name": "flaky"}})
    kube_api.inject_fault(
        "patch", kmock.resource("v1/configmaps"), status=503, reason="ServiceUnavailable", times=2
    )
    for _ in range(2):
        with pytest.raises(ApiException) as unavailable:
            core.patch_namespaced_config_map("flaky", "default", {"data": {"a": "1"}})
        assert unavailable.value.status == 503
        assert _status(unavailable.value)["reason"] == "ServiceUnavailable"
    assert core.read_namespaced_config_map("flaky", "default").metadata.name == "flaky"
    assert kubernetes.client.VersionApi(client).get_code().major == "1"
    assert core.patch_namespaced_config_map("flaky", "default", {"data": {"a": "1"}}).data == {"a": "1"}
    kube_api.inject_fault("get", kmock.resource("v1/configmaps"), kmock.name("flaky"), status=500)
    with pytest.raises(ApiException):
        core.read_namespaced_config_map("flaky", "default")
    kube_api.clear_faults()
    assert core.read_namespaced_config_map("flaky", "default").data == {"a": "1"}


def test_a_watch_with_a_label_selector_sees_objects_enter_and_leave_it(client: Client) -> None:
    core: Any = kubernetes.client.CoreV1Api(client)
    listed = core.list_namespaced_config_map("default")
    core.create_namespaced_config_map("default", {"metadata": {"name": "m", "labels": {"tier": "db"}}})
    core.patch_namespaced_config_map("m", "default", {"metadata": {"labels": {"tier": "web"}}})
    core.patch_namespaced_config_map("m", "default", {"data": {"a": "1"}})
    core.patch_namespaced_config_map("m", "default", {"metadata": {"labels": {"tier": "db"}}})
    events = [
        (e["type"], e["object"].metadata.name)
        for e in _watch().stream(
            core.list_namespaced_config_map,
            "default",
            label_selector="tier=web",
            resource_version=listed.metadata.resource_version,
            timeout_seconds=1,
        )
    ]
    assert events == [("ADDED", "m"), ("MODIFIED", "m"), ("DELETED", "m")]


def test_the_throughput_helper_runs_full_lifecycles(kube_api: KubeApi) -> None:
    measured = measure_throughput(kube_api, objects=20, concurrency=4)
    assert measured.requests == 80
    assert measured.per_second > 0
    assert kube_api.list("configmaps", "default") == []


def test_crd_schemas_default_prune_and_validate_client_writes(kube_api: KubeApi, client: Client) -> None:
    kube_api.register_crds()
    custom: Any = kubernetes.client.CustomObjectsApi(client)
    agent = yaml.safe_load((REPO / "examples" / "agent.yaml").read_text())
    kube_api.create_namespace(agent["metadata"]["namespace"])
    agent["spec"].pop("replicas", None)
    agent["spec"]["invented"] = "by a typo"
    created = custom.create_namespaced_custom_object(
        "oblivion.dev", "v1alpha1", agent["metadata"]["namespace"], "agents", agent
    )
    assert created["spec"]["replicas"] == 1
    assert "invented" not in created["spec"]
    patched = custom.patch_namespaced_custom_object_status(
        "oblivion.dev",
        "v1alpha1",
        agent["metadata"]["namespace"],
        "agents",
        agent["metadata"]["name"],
        {"status": {"readyReplicas": 1, "madeUp": True}},
    )
    assert patched["status"] == {"readyReplicas": 1}
    with pytest.raises(ApiException) as refused:
        custom.patch_namespaced_custom_object(
            "oblivion.dev",
            "v1alpha1",
            agent["metadata"]["namespace"],
            "agents",
            agent["metadata"]["name"],
            {"spec": {"replicas": -1}},
        )
    assert refused.value.status == 422
    assert _status(refused.value)["reason"] == "Invalid"
    assert "spec.replicas" in _status(refused.value)["message"]
    arranged = kube_api.patch(
        "agents", agent["metadata"]["name"], {"spec": {"replicas": -1}}, agent["metadata"]["namespace"]
    )
    assert arranged["spec"]["replicas"] == -1


async def test_async_tests_can_wait_without_blocking_their_loop(kube_api: KubeApi) -> None:
    async def create_later() -> None:
        await asyncio.sleep(0)
        await asyncio.to_thread(kube_api.create_namespace, "late")

    task = asyncio.create_task(create_later())
    found = await kube_api.wait_for_async(lambda: kube_api.find("namespaces", "late"), message="namespace")
    await task
    assert found["metadata"]["name"] == "late"


def _watch_events(url: str, **params: str) -> list[dict[str, Any]]:
    with httpx.stream("GET", url, params={"watch": "true", **params}, timeout=10) as response:
        assert response.status_code == 200
        return [json.loads(line) for line in response.iter_lines() if line]


def test_watches_send_bookmarks_and_the_initial_events_end_and_stop_on_timeout(
    tmp_path: pathlib.Path,
) -> None:
    with serve_kube_api(tmp_path, bookmark_interval=0.2) as kube_api:
        kube_api.create(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "default"}}
        )
        url = kube_api.url + "/api/v1/namespaces/default/configmaps"
        initial = _watch_events(url, sendInitialEvents="true", allowWatchBookmarks="true", timeoutSeconds="1")
        assert initial[0]["type"] == "ADDED"
        assert initial[1]["type"] == "BOOKMARK"
        assert initial[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
        assert {e["type"] for e in initial[2:]} == {"BOOKMARK"}
        assert len(initial) >= 4  # a bookmark every 0.2 s until the 1 s timeout ends the stream
        quiet = _watch_events(url, resourceVersion=kube_api.resource_version, timeoutSeconds="1")
        assert quiet == []


def test_names_follow_the_real_servers_rules(client: Client) -> None:
    core: Any = kubernetes.client.CoreV1Api(client)
    for bad in ("Wg-Squad", "wg.squad", "x" * 64):
        with pytest.raises(ApiException) as refused:
            core.create_namespace({"metadata": {"name": bad}})
        assert refused.value.status == 422
        assert "metadata.name" in _status(refused.value)["message"]
    core.create_namespaced_config_map("default", {"metadata": {"name": "dotted.name-1"}})
    rbac: Any = kubernetes.client.RbacAuthorizationV1Api(client)
    rbac.create_cluster_role({"metadata": {"name": "system:oblivion-operator"}, "rules": []})


def test_dry_run_is_refused_rather_than_written(kube_api: KubeApi, client: Client) -> None:
    core: Any = kubernetes.client.CoreV1Api(client)
    with pytest.raises(ApiException) as refused:
        core.create_namespaced_config_map("default", {"metadata": {"name": "dry"}}, dry_run="All")
    assert refused.value.status == 400
    assert kube_api.find("configmaps", "dry", "default") is None


INVALID_EXAMPLES = sorted((REPO / "examples" / "invalid").glob("*.yaml"))


@pytest.mark.parametrize("path", INVALID_EXAMPLES, ids=[p.stem for p in INVALID_EXAMPLES])
def test_invalid_examples_are_refused_like_a_cluster_would(kube_api: KubeApi, path: pathlib.Path) -> None:
    kube_api.register_crds()
    for doc in (d for d in yaml.safe_load_all(path.read_text()) if d):
        rtype = kube_api.resource(doc["kind"])
        namespace = doc["metadata"].get("namespace")
        if namespace and kube_api.find("namespaces", namespace) is None:
            kube_api.create_namespace(namespace)
        scope = f"namespaces/{namespace}/" if namespace else ""
        response = httpx.post(
            f"{kube_api.url}/apis/{rtype.group}/{rtype.version}/{scope}{rtype.plural}", json=doc
        )
        assert response.status_code == 422, response.text
        assert response.json()["reason"] == "Invalid"


def test_cel_transition_rules_guard_updates(kube_api: KubeApi, client: Client) -> None:
    kube_api.register_crds()
    custom: Any = kubernetes.client.CustomObjectsApi(client)
    workgroup = yaml.safe_load((REPO / "examples" / "workgroup.yaml").read_text())
    custom.create_cluster_custom_object("oblivion.dev", "v1alpha1", "workgroups", workgroup)
    with pytest.raises(ApiException) as refused:
        custom.patch_cluster_custom_object(
            "oblivion.dev",
            "v1alpha1",
            "workgroups",
            workgroup["metadata"]["name"],
            {"spec": {"namespace": "elsewhere"}},
        )
    assert refused.value.status == 422
    assert "cannot be changed" in _status(refused.value)["message"]
    renamed = custom.patch_cluster_custom_object(
        "oblivion.dev",
        "v1alpha1",
        "workgroups",
        workgroup["metadata"]["name"],
        {"spec": {"displayName": "B"}},
    )
    assert renamed["spec"]["displayName"] == "B"


def test_nulls_of_non_nullable_fields_are_dropped_and_defaulted(kube_api: KubeApi) -> None:
    kube_api.register_crds()
    workgroup = yaml.safe_load((REPO / "examples" / "workgroup.yaml").read_text())
    workgroup["spec"]["retentionPolicy"] = None
    response = httpx.post(kube_api.url + "/apis/oblivion.dev/v1alpha1/workgroups", json=workgroup)
    assert response.status_code == 201, response.text
    assert response.json()["spec"]["retentionPolicy"] in ("Retain", "Delete")


def test_built_in_kinds_are_validated_against_the_kubernetes_schemas(kube_api: KubeApi) -> None:
    deployments = kube_api.url + "/apis/apps/v1/namespaces/default/deployments"
    refused = httpx.post(deployments, json={"metadata": {"name": "web"}, "spec": {"replicas": 1}})
    assert refused.status_code == 422
    assert "'selector' is a required property" in refused.json()["message"]
    policies = kube_api.url + "/apis/networking.k8s.io/v1/namespaces/default/networkpolicies"
    policy: dict[str, Any] = {
        "metadata": {"name": "deny"},
        "spec": {"podSelector": {}, "policyTypes": "Ingress"},
    }
    assert httpx.post(policies, json=policy).status_code == 422
    policy["spec"]["policyTypes"] = ["Ingress"]
    assert httpx.post(policies, json=policy).status_code == 201


def test_label_values_data_keys_and_deployment_selectors_are_checked(kube_api: KubeApi) -> None:
    configmaps = kube_api.url + "/api/v1/namespaces/default/configmaps"
    too_long = {"metadata": {"name": "a", "labels": {"oblivion.dev/workgroup": "x" * 64}}}
    assert httpx.post(configmaps, json=too_long).status_code == 422
    assert (
        httpx.post(configmaps, json={"metadata": {"name": "b"}, "data": {"bad key": "v"}}).status_code == 422
    )
    deployments = kube_api.url + "/apis/apps/v1/namespaces/default/deployments"
    mismatched: dict[str, Any] = {
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "other"}},
                "spec": {"containers": [{"name": "web", "image": "x"}]},
            },
        },
    }
    assert httpx.post(deployments, json=mismatched).status_code == 422
    mismatched["spec"]["template"]["metadata"]["labels"] = {"app": "web"}
    assert httpx.post(deployments, json=mismatched).status_code == 201
    moved = {
        "spec": {
            "selector": {"matchLabels": {"app": "web2"}},
            "template": {"metadata": {"labels": {"app": "web2"}}},
        }
    }
    response = httpx.patch(
        deployments + "/web", json=moved, headers={"Content-Type": "application/merge-patch+json"}
    )
    assert response.status_code == 422
    assert "field is immutable" in response.json()["message"]


def test_deleting_a_workgroup_takes_its_owned_namespace_and_contents(kube_api: KubeApi) -> None:
    kube_api.register_crds()
    workgroup = kube_api.create(yaml.safe_load((REPO / "examples" / "workgroup.yaml").read_text()))
    owner = {
        "apiVersion": "oblivion.dev/v1alpha1",
        "kind": "Workgroup",
        "name": workgroup["metadata"]["name"],
        "uid": workgroup["metadata"]["uid"],
    }
    kube_api.create(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "wg-owned", "ownerReferences": [owner]},
        }
    )
    kube_api.create(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "wg-owned"}}
    )
    kube_api.delete("workgroups", workgroup["metadata"]["name"])
    assert kube_api.find("namespaces", "wg-owned") is None
    assert kube_api.list("configmaps", "wg-owned") == []
