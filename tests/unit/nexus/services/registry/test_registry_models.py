"""Registry bodies: camelCase only, unknown fields refused, aliases normalised, secrets never shown."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from oblivion_nexus.services.registry.schemas import AgentSpec, CredentialSpec, ProjectSpec, WorkgroupSpec


def test_aliases_are_lowercased_deduplicated_and_lose_a_leading_at() -> None:
    spec = AgentSpec.model_validate(
        {"clientId": "c", "clientSecret": "s" * 16, "aliases": ["@AI-Backend", "ai-backend", " reviewer "]}
    )
    assert spec.aliases == ["ai-backend", "reviewer"]


@pytest.mark.parametrize("alias", ["", "@", "has space", "émoji", "x" * 129])
def test_malformed_alias_is_refused(alias: str) -> None:
    with pytest.raises(ValidationError, match="alias"):
        AgentSpec.model_validate({"clientId": "c", "clientSecret": "s" * 16, "aliases": [alias]})


def test_numeric_clickup_ids_become_text() -> None:
    assert ProjectSpec.model_validate({"clickupListId": 901234}).clickup_list_id == "901234"
    spec = AgentSpec.model_validate({"clientId": "c", "clientSecret": "s" * 16, "clickupUserId": 42})
    assert spec.clickup_user_id == "42"


def test_secrets_are_hidden_in_reprs_and_errors() -> None:
    spec = AgentSpec.model_validate({"clientId": "c", "clientSecret": "very-secret-value"})
    cred = CredentialSpec.model_validate({"type": "t", "value": "another-secret-value"})
    assert "very-secret-value" not in repr(spec)
    assert "another-secret-value" not in repr(cred)
    with pytest.raises(ValidationError) as caught:
        AgentSpec.model_validate({"clientId": "c", "clientSecret": "tinysec"})
    assert "tinysec" not in str(caught.value)


@pytest.mark.parametrize(
    "body", [{"display_name": "x"}, {"displayName": "x", "extra": 1}, {"slackChannelID": "C1"}]
)
def test_only_the_documented_camel_case_fields_are_accepted(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        WorkgroupSpec.model_validate(body)


def test_required_agent_fields_are_named_when_missing() -> None:
    with pytest.raises(ValidationError) as caught:
        AgentSpec.model_validate({})
    missing = {err["loc"][0] for err in caught.value.errors()}
    assert missing == {"clientId", "clientSecret"}


def test_a_workgroups_summary_model_needs_a_name_and_for_openai_compatible_an_endpoint() -> None:
    spec = WorkgroupSpec.model_validate({"summaryModel": {"name": "gpt-4o-mini"}})
    assert spec.summary_model is not None
    assert spec.summary_model.provider == "openai"
    assert WorkgroupSpec.model_validate({}).summary_model is None
    with pytest.raises(ValidationError, match="endpoint is required"):
        WorkgroupSpec.model_validate({"summaryModel": {"provider": "openai-compatible", "name": "llama"}})
    with pytest.raises(ValidationError, match="provider"):
        WorkgroupSpec.model_validate({"summaryModel": {"provider": "anthropic", "name": "claude-sonnet-4"}})
    with pytest.raises(ValidationError, match="name"):
        WorkgroupSpec.model_validate({"summaryModel": {"provider": "openai"}})
