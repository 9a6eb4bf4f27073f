"""The examples as a user applies them, admitted or refused by the real API server.

``kubectl apply -f examples/<file>`` stores each valid example as written (plus the CRD's defaults);
each of ``examples/invalid/*.yaml`` is refused for its one mistake with the message its
``# expect:`` line quotes — from the server's own schema validation and CEL rules, not a model of them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.controlplane import ApiError, Cluster
from tests.support.crd_schema import EXAMPLES_DIR, expected_error, load_manifests

VALID = sorted(EXAMPLES_DIR.glob("*.yaml"))
INVALID = sorted((EXAMPLES_DIR / "invalid").glob("*.yaml"))
# The namespace the operator makes for the example Workgroup; namespaced examples live in it.
NAMESPACE = "wg-squad-backend"


@pytest.fixture
def cluster(kube: Cluster) -> Cluster:
    kube.create_namespace(NAMESPACE)
    return kube


@pytest.mark.parametrize("server_side", [False, True], ids=["client-side", "server-side"])
@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_each_example_is_stored_as_written_by_kubectl_apply(
    cluster: Cluster, path: Path, server_side: bool
) -> None:
    cluster.apply_file(path, server_side=server_side)
    for document in load_manifests(path):
        meta = document["metadata"]
        resource = f"{document['apiVersion']}/{document['kind']}"
        stored = cluster.get(resource, meta["name"], meta.get("namespace"))
        if document["kind"] == "Secret":
            assert set(stored["data"]) == set(document["stringData"])
            continue
        assert stored["spec"].items() >= document["spec"].items()


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_each_invalid_example_is_refused_for_its_one_mistake_with_the_message_a_user_sees(
    cluster: Cluster, path: Path
) -> None:
    refused = cluster.kubectl("apply", "-f", str(path), check=False)
    assert refused.returncode != 0, f"{path.name} was admitted"
    assert expected_error(path) in refused.stderr

    [document] = load_manifests(path)
    with pytest.raises(ApiError) as caught:
        cluster.create(document, dry_run=True)
    assert caught.value.status in (400, 422)
    # One mistake is one field (a schema bound and a CEL rule may both name it); the server adds a
    # note that CEL rules were skipped, which is no mistake of the user's.
    fields = {
        cause.get("field", "").lstrip(".")
        for cause in caught.value.causes
        if "rules were not checked" not in cause.get("message", "")
    }
    assert len(fields) <= 1, caught.value.causes
    assert expected_error(path) in caught.value.message
    meta = document["metadata"]
    assert (
        cluster.find(f"{document['apiVersion']}/{document['kind']}", meta["name"], meta.get("namespace"))
        is None
    )
