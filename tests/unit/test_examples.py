"""The examples a new user applies as is, and the invalid ones that show what the API refuses.

Whether the API server admits each example, and refuses each invalid one with its ``# expect:``
message, is tested against the real server in ``tests/integration/crds/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from tests.support.crd_schema import EXAMPLES_DIR, expected_error, load_manifests

VALID = sorted(EXAMPLES_DIR.glob("*.yaml"))
INVALID = sorted((EXAMPLES_DIR / "invalid").glob("*.yaml"))


@pytest.fixture(scope="module")
def examples() -> dict[str, dict[str, Any]]:
    """Every document of examples/*.yaml by kind."""
    by_kind = {}
    for path in VALID:
        for document in load_manifests(path):
            by_kind[document["kind"]] = document
    return by_kind


def test_the_examples_are_the_complete_set_a_new_user_applies() -> None:
    assert [path.name for path in VALID] == [
        "agent.yaml",
        "project.yaml",
        "toolcredential-github.yaml",
        "workgroup.yaml",
    ]


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_each_example_opens_with_a_comment_saying_what_it_makes_and_how_to_apply_it(path: Path) -> None:
    header = path.read_text().split("\napiVersion:", 1)[0]
    assert header.startswith("# ")
    assert f"kubectl apply -f examples/{path.name}" in header


def test_the_github_secret_is_a_valid_secret_holding_a_marked_placeholder(examples: dict[str, Any]) -> None:
    secret = examples["Secret"]
    kubernetes_validate.validate(secret, kubernetes_validate.latest_version(), strict=True)
    assert secret["stringData"] == {"token": "ghp_REPLACE_ME"}
    assert "placeholder" in (EXAMPLES_DIR / "toolcredential-github.yaml").read_text()


def test_the_examples_refer_to_one_another_by_their_real_names(examples: dict[str, Any]) -> None:
    workgroup, project, agent = examples["Workgroup"], examples["Project"], examples["Agent"]
    credential, secret = examples["ToolCredential"], examples["Secret"]
    assert workgroup["metadata"]["name"] == "squad-backend"
    namespace = f"wg-{workgroup['metadata']['name']}"
    for namespaced in (project, agent, credential, secret):
        assert namespaced["metadata"]["namespace"] == namespace
    assert project["metadata"]["name"] == "auth-refactor"
    assert agent["metadata"]["name"] == "backend-bot"
    assert {"backend-bot", "ai-backend"} <= set(agent["spec"]["aliases"])
    assert agent["spec"]["projects"] == [project["metadata"]["name"]]
    credentials = [tool["credential"] for tool in agent["spec"]["tools"] if "credential" in tool]
    assert credentials == [credential["metadata"]["name"]]
    assert [tool["builtin"] for tool in agent["spec"]["tools"] if "builtin" in tool] == ["clickup"]
    assert credential["spec"]["agents"] == [agent["metadata"]["name"]]
    assert credential["spec"]["secretRef"] == {"name": secret["metadata"]["name"], "key": "token"}


def test_the_agent_asks_only_for_actions_its_credential_allows(examples: dict[str, Any]) -> None:
    allowed = examples["ToolCredential"]["spec"]["allowedActions"]
    for action in examples["Agent"]["spec"]["tools"][0]["actions"]:
        assert action in allowed or f"{action.split('.')[0]}.*" in allowed, action


def test_the_invalid_examples_cover_every_kind_and_kind_of_mistake() -> None:
    kinds = {load_manifests(path)[0]["kind"] for path in INVALID}
    assert kinds == {"Workgroup", "Project", "Agent", "ToolCredential"}
    messages = " ".join(expected_error(path) for path in INVALID)
    for mistake in ("unknown field", "Unsupported value", "Required value", "should match", "greater than"):
        assert mistake in messages
    assert "exactly one of slack.channelName or slack.channelId" in messages
    assert "spec.endDate must not be before spec.startDate" in messages
