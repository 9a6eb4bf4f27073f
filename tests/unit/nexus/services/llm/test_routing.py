"""Which workgroup credential an agent's model call uses: the one its Agent names, else the only one
of the provider's type, an openai-compatible endpoint's by its baseUrl, never one that excludes it."""

from __future__ import annotations

from typing import Any

import pytest

from oblivion_nexus.services.auth.tokens import AgentIdentity
from oblivion_nexus.services.llm import ModelUnavailable
from oblivion_nexus.services.llm.routing import choose_credential, choose_summary_credential
from oblivion_nexus.stores import tables as t

CODER = AgentIdentity("squad", "coder", (), "jti", 0.0, 7, 1)


def credential(
    name: str, type: str = "openai", *, agents: list[str] | None = None, **config: Any
) -> t.Credential:
    return t.Credential(workgroup="squad", name=name, type=type, agents=agents or [], config=config)


def test_the_only_credential_of_the_providers_type_is_used() -> None:
    rows = [credential("gh", "github"), credential("openai"), credential("claude", "anthropic")]
    assert choose_credential(rows, {"provider": "openai", "name": "gpt-4o-mini"}, CODER) is rows[1]
    assert choose_credential(rows, {"provider": "anthropic", "name": "claude-sonnet-4"}, CODER) is rows[2]


def test_the_credential_the_agent_names_wins_and_must_be_of_the_type() -> None:
    rows = [credential("team"), credential("personal"), credential("gh", "github")]
    spec = {"provider": "openai", "name": "gpt-4o-mini", "credential": "personal"}
    assert choose_credential(rows, spec, CODER) is rows[1]
    with pytest.raises(ModelUnavailable, match="type 'github'"):
        choose_credential(rows, {**spec, "credential": "gh"}, CODER)
    with pytest.raises(ModelUnavailable, match="not a credential"):
        choose_credential(rows, {**spec, "credential": "missing"}, CODER)


def test_two_candidates_without_a_name_is_an_error_naming_both() -> None:
    rows = [credential("team"), credential("personal")]
    with pytest.raises(ModelUnavailable, match=r"several 'openai' credentials \(personal, team\)"):
        choose_credential(rows, {"provider": "openai", "name": "gpt-4o-mini"}, CODER)


def test_a_credential_listing_other_agents_is_not_the_callers() -> None:
    rows = [credential("reviewers-only", agents=["reviewer"])]
    with pytest.raises(ModelUnavailable, match="no ToolCredential of type 'openai'"):
        choose_credential(rows, {"provider": "openai", "name": "gpt-4o-mini"}, CODER)
    with pytest.raises(ModelUnavailable, match="does not list agent 'coder'"):
        choose_credential(
            rows, {"provider": "openai", "name": "gpt-4o-mini", "credential": "reviewers-only"}, CODER
        )


def test_an_openai_compatible_endpoint_takes_the_credential_with_its_base_url_or_none() -> None:
    rows = [credential("openai"), credential("vllm", baseUrl="http://vllm.models:8000/v1/")]
    spec = {"provider": "openai-compatible", "name": "qwen", "endpoint": "http://vllm.models:8000/v1"}
    assert choose_credential(rows, spec, CODER) is rows[1]
    assert choose_credential(rows, {**spec, "endpoint": "http://ollama:11434/v1"}, CODER) is None


def test_the_summary_model_uses_the_named_credential_or_the_only_one_open_to_every_agent() -> None:
    spec = {"provider": "openai", "name": "gpt-4o-mini"}
    rows = [credential("coders-only", agents=["coder"]), credential("shared")]
    assert choose_summary_credential(rows, spec, "squad") is rows[1]
    # the Workgroup naming a credential restricted to agents is the platform team's choice
    assert choose_summary_credential(rows, {**spec, "credential": "coders-only"}, "squad") is rows[0]
    with pytest.raises(ModelUnavailable, match="for its summary model"):
        choose_summary_credential(rows[:1], spec, "squad")
    with pytest.raises(ModelUnavailable, match=r"spec\.memory\.summaryModel\.credential 'gone'"):
        choose_summary_credential(rows, {**spec, "credential": "gone"}, "squad")
    compatible = {"provider": "openai-compatible", "name": "llama", "endpoint": "http://vllm:8000/v1"}
    assert choose_summary_credential(rows, compatible, "squad") is None
