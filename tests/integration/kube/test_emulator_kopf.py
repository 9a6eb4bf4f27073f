"""The real kopf operator framework against the emulator: handlers, finalizers, status, deletion."""

from __future__ import annotations

import importlib
import pathlib
import threading
from typing import Any

import kopf
import kubernetes
import pytest

from tests.kube import KubeApi, run_operator

WIDGET_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.emulator.oblivion.dev"},
    "spec": {
        "group": "emulator.oblivion.dev",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wdg"]},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                },
            }
        ],
    },
}


class HandlerLog:
    """What the handlers did, readable from the test thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[tuple[str, str, Any]] = []

    def record(self, what: str, name: str, value: Any = None) -> None:
        with self._lock:
            self._calls.append((what, name, value))

    @property
    def calls(self) -> list[tuple[str, str, Any]]:
        with self._lock:
            return list(self._calls)


def widget_operator(log: HandlerLog, url: str) -> kopf.OperatorRegistry:
    """A tiny operator: each Widget gets a ConfigMap child and a status; deletion is recorded."""
    registry = kopf.OperatorRegistry()

    @kopf.on.create("emulator.oblivion.dev", "v1", "widgets", registry=registry, id="make-child")
    def create(
        spec: kopf.Spec, name: str, namespace: str | None, body: kopf.Body, patch: kopf.Patch, **_: Any
    ) -> None:
        log.record("create", name, spec.get("size"))
        child: Any = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"{name}-child"},
            "data": {"size": str(spec.get("size"))},
        }
        kopf.adopt(child, owner=body)
        config = kubernetes.client.Configuration()
        config.host = url
        with kubernetes.client.ApiClient(config) as client:
            kubernetes.client.CoreV1Api(client).create_namespaced_config_map(namespace or "default", child)
        patch.status["phase"] = "Made"
        patch.status["observedGeneration"] = body["metadata"]["generation"]

    @kopf.on.update(
        "emulator.oblivion.dev", "v1", "widgets", registry=registry, id="resize", field="spec.size"
    )
    def update(name: str, new: Any, patch: kopf.Patch, body: Any, **_: Any) -> None:
        log.record("update", name, new)
        patch.status["observedGeneration"] = body["metadata"]["generation"]

    @kopf.on.delete("emulator.oblivion.dev", "v1", "widgets", registry=registry, id="cleanup")
    def delete(name: str, **_: Any) -> None:
        log.record("delete", name)

    return registry


@pytest.fixture
def widgets(kube_api: KubeApi) -> KubeApi:
    kube_api.create(WIDGET_CRD)
    kube_api.create_namespace("shop")
    return kube_api


def _widget(name: str, size: int) -> dict[str, Any]:
    return {
        "apiVersion": "emulator.oblivion.dev/v1",
        "kind": "Widget",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"size": size},
    }


def test_kopf_handles_each_change_once_and_finalizes_deletion(widgets: KubeApi) -> None:
    log = HandlerLog()
    registry = widget_operator(log, widgets.url)
    with run_operator(widgets, registry, namespaces=["shop"]):
        widgets.create(_widget("w1", 1))
        made = widgets.wait_for_object(
            "widgets", "w1", "shop", condition=lambda o: o.get("status", {}).get("phase") == "Made"
        )
        assert "kopf.zalando.org/KopfFinalizerMarker" in made["metadata"]["finalizers"]
        child = widgets.get("configmaps", "w1-child", "shop")
        assert child["metadata"]["ownerReferences"][0]["uid"] == made["metadata"]["uid"]

        widgets.patch("widgets", "w1", {"spec": {"size": 2}}, "shop")
        widgets.wait_for_object(
            "widgets", "w1", "shop", condition=lambda o: o["status"].get("observedGeneration") == 2
        )
        widgets.patch("widgets", "w1", {"metadata": {"labels": {"colour": "red"}}}, "shop")
        widgets.patch("widgets", "w1", {"spec": {"size": 3}}, "shop")
        widgets.wait_for_object(
            "widgets", "w1", "shop", condition=lambda o: o["status"].get("observedGeneration") == 3
        )

        widgets.delete("widgets", "w1", "shop")
        widgets.wait_for_deletion("widgets", "w1", "shop")
        widgets.wait_for_deletion("configmaps", "w1-child", "shop")

    assert log.calls == [
        ("create", "w1", 1),
        ("update", "w1", 2),
        ("update", "w1", 3),
        ("delete", "w1", None),
    ]


def test_a_killed_operator_resumes_without_repeating_finished_handlers(widgets: KubeApi) -> None:
    log = HandlerLog()
    registry = widget_operator(log, widgets.url)
    with run_operator(widgets, registry, namespaces=["shop"]) as first:
        widgets.create(_widget("w2", 5))
        widgets.wait_for_object(
            "widgets", "w2", "shop", condition=lambda o: o.get("status", {}).get("phase") == "Made"
        )
        first.kill()
    assert not first.running

    with run_operator(widgets, registry, namespaces=["shop"]):
        widgets.patch("widgets", "w2", {"spec": {"size": 6}}, "shop")
        widgets.wait_for_object(
            "widgets", "w2", "shop", condition=lambda o: o["status"].get("observedGeneration") == 2
        )

    assert log.calls == [("create", "w2", 5), ("update", "w2", 6)]


def test_kopf_with_peering_announces_itself_in_its_peering_object(widgets: KubeApi) -> None:
    widgets.register_kopf_peering_crds()
    widgets.create(
        {"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering", "metadata": {"name": "emulated"}}
    )
    log = HandlerLog()
    with run_operator(widgets, widget_operator(log, widgets.url), peering="emulated", clusterwide=True):
        peering = widgets.wait_for_object(
            "clusterkopfpeerings.kopf.dev", "emulated", condition=lambda p: p.get("status")
        )
        assert len(peering["status"]) == 1
        widgets.create(_widget("w3", 7))
        widgets.wait_for_object(
            "widgets", "w3", "shop", condition=lambda o: o.get("status", {}).get("phase") == "Made"
        )
    assert log.calls == [("create", "w3", 7)]


HANDLER_MODULE = """
import kopf

seen = []


@kopf.on.create("emulator.oblivion.dev", "v1", "widgets", id="note")
def note(name, patch, **_):
    seen.append(name)
    patch.status["phase"] = "Noted"
"""


def test_run_operator_loads_a_handler_module_into_a_fresh_registry(
    widgets: KubeApi, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "emulated_widget_handlers.py").write_text(HANDLER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    with run_operator(widgets, "emulated_widget_handlers", namespaces=["shop"]):
        widgets.create(_widget("w4", 1))
        widgets.wait_for_object(
            "widgets", "w4", "shop", condition=lambda o: o.get("status", {}).get("phase") == "Noted"
        )
    module = importlib.import_module("emulated_widget_handlers")
    with run_operator(widgets, module, namespaces=["shop"]):
        widgets.create(_widget("w5", 1))
        widgets.wait_for_object(
            "widgets", "w5", "shop", condition=lambda o: o.get("status", {}).get("phase") == "Noted"
        )
    reloaded = importlib.import_module("emulated_widget_handlers")
    assert reloaded.seen == ["w5"]  # the second run reloaded the module: a fresh registry and state
