"""Spec validation: what the operator accepts, and the messages users see in the Ready condition."""

from __future__ import annotations

import datetime

import pytest

from oblivion_operator.models import (
    AgentSpec,
    InvalidSpec,
    ProjectSpec,
    ToolCredentialSpec,
    WorkgroupSpec,
    parse_spec,
)


def test_workgroup_defaults_to_its_own_namespace_and_retain() -> None:
    spec = parse_spec(WorkgroupSpec, {"displayName": "Backend"})
    assert spec.namespace_for("squad-backend") == "wg-squad-backend"
    assert spec.retention_policy == "Retain"
    assert spec.memory.isolation == "Shared"
    assert spec.quota_hard is None


def test_workgroup_quota_hard_map_becomes_strings() -> None:
    spec = parse_spec(WorkgroupSpec, {"quota": {"hard": {"pods": 20, "requests.cpu": "8"}}})
    assert spec.quota_hard == {"pods": "20", "requests.cpu": "8"}


def test_channel_name_and_id_together_are_refused_with_a_message() -> None:
    with pytest.raises(InvalidSpec, match=r"channelName .* or channelId .*not both"):
        parse_spec(WorkgroupSpec, {"slack": {"channelName": "backend", "channelId": "C024BE91L"}})


def test_bad_retention_policy_names_the_field() -> None:
    with pytest.raises(InvalidSpec, match="retentionPolicy"):
        parse_spec(WorkgroupSpec, {"retentionPolicy": "Keep"})


def test_project_without_list_id_is_refused() -> None:
    with pytest.raises(InvalidSpec, match="clickup"):
        parse_spec(ProjectSpec, {"displayName": "Auth"})


def test_project_end_before_start_is_refused() -> None:
    with pytest.raises(InvalidSpec, match="endDate is before startDate"):
        parse_spec(
            ProjectSpec, {"clickup": {"listId": "1"}, "startDate": "2026-02-01", "endDate": "2026-01-01"}
        )


def test_project_is_over_when_archived_or_after_its_end_date() -> None:
    now = datetime.datetime(2026, 3, 1, 12, tzinfo=datetime.UTC)
    assert parse_spec(ProjectSpec, {"clickup": {"listId": "1"}, "archived": True}).is_over(now)
    assert parse_spec(ProjectSpec, {"clickup": {"listId": "1"}, "endDate": "2026-02-28"}).is_over(now)
    # the end date itself is still a working day
    assert not parse_spec(ProjectSpec, {"clickup": {"listId": "1"}, "endDate": "2026-03-01"}).is_over(now)
    assert not parse_spec(ProjectSpec, {"clickup": {"listId": "1"}}).is_over(now)


def test_project_status_map_keys_are_our_task_states() -> None:
    with pytest.raises(InvalidSpec, match="statusMap"):
        parse_spec(ProjectSpec, {"clickup": {"listId": "1", "statusMap": {"WAITING": "blocked"}}})


def test_agent_defaults_and_egress_port_shorthand() -> None:
    spec = parse_spec(AgentSpec, {"egress": [{"cidr": "140.82.112.0/20", "ports": [443]}]})
    assert spec.replicas == 1
    assert spec.rate_limit.messages_per_minute == 10
    assert spec.egress[0].ports[0].port == 443
    assert spec.egress[0].ports[0].protocol == "TCP"


def test_agent_cannot_override_the_credentials_environment() -> None:
    with pytest.raises(InvalidSpec, match="OBLIVION_CLIENT_SECRET is set by the operator"):
        parse_spec(AgentSpec, {"env": [{"name": "OBLIVION_CLIENT_SECRET", "value": "x"}]})


def test_agent_with_too_many_replicas_names_the_limit() -> None:
    with pytest.raises(InvalidSpec, match="replicas: Input should be less than or equal to 20"):
        parse_spec(AgentSpec, {"replicas": 50})


def test_tool_credential_key_defaults_to_token() -> None:
    spec = parse_spec(ToolCredentialSpec, {"type": "github", "secretRef": {"name": "github-token"}})
    assert spec.secret_ref.key == "token"


def test_http_tool_credential_needs_a_base_url() -> None:
    with pytest.raises(InvalidSpec, match=r"http\.baseUrl is required"):
        parse_spec(ToolCredentialSpec, {"type": "http", "secretRef": {"name": "s"}})


def test_unknown_credential_type_is_refused() -> None:
    with pytest.raises(InvalidSpec, match="type"):
        parse_spec(ToolCredentialSpec, {"type": "ftp", "secretRef": {"name": "s"}})


def test_workgroup_summary_model_defaults_to_openai_and_needs_an_endpoint_when_compatible() -> None:
    spec = parse_spec(WorkgroupSpec, {"memory": {"summaryModel": {"name": "gpt-4o-mini"}}})
    assert spec.memory.summary_model is not None
    assert spec.memory.summary_model.provider == "openai"
    assert parse_spec(WorkgroupSpec, {}).memory.summary_model is None
    with pytest.raises(InvalidSpec, match="endpoint is required"):
        parse_spec(
            WorkgroupSpec, {"memory": {"summaryModel": {"provider": "openai-compatible", "name": "x"}}}
        )
