"""Slack is optional: without a bot token the examples still become Ready (no channels, a SlackChannel
condition saying how to get them), and a token configured later creates the channels on restart."""

from __future__ import annotations

from typing import Any

from oblivion_operator.settings import OperatorSettings
from tests.controlplane import Cluster
from tests.fakes.slack import FakeSlack
from tests.support.operator import EXAMPLES, NexusAdmin, ready, start_operator

WG, NS = "squad-backend", "wg-squad-backend"


def _without_slack(settings: OperatorSettings) -> OperatorSettings:
    return settings.model_copy(update={"slack_bot_token": None})


def _condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    for condition in (obj.get("status") or {}).get("conditions") or ():
        if condition.get("type") == type_:
            return dict(condition)
    raise AssertionError(f"no {type_} condition in {obj.get('status')}")


def _slack_channel_is(status: str) -> Any:
    def check(obj: dict[str, Any]) -> bool:
        return ready(obj) and any(
            c.get("type") == "SlackChannel" and c.get("status") == status
            for c in (obj.get("status") or {}).get("conditions") or ()
        )

    return check


def test_examples_become_ready_without_a_slack_token_and_say_how_to_get_channels(
    cluster: Cluster, operator_settings: OperatorSettings, slack: FakeSlack, nexus_admin: NexusAdmin
) -> None:
    with start_operator(cluster, _without_slack(operator_settings)) as operator:
        cluster.apply_file(EXAMPLES / "workgroup.yaml")
        workgroup = cluster.wait_for_object("workgroups", WG, condition=ready, timeout=30)
        for name in ("project.yaml", "agent.yaml", "toolcredential-github.yaml"):
            cluster.apply_file(EXAMPLES / name)
        project = cluster.wait_for_object("projects", "auth-refactor", NS, condition=ready, timeout=30)
        cluster.wait_for_object("agents", "backend-bot", NS, condition=ready, timeout=30)
        cluster.wait_for_object("toolcredentials", "github", NS, condition=ready, timeout=30)

        for obj in (workgroup, project):
            channel = _condition(obj, "SlackChannel")
            assert channel["status"] == "False"
            assert channel["reason"] == "SlackNotConfigured"
            assert "OBLIVION_SLACK_BOT_TOKEN" in channel["message"]
            assert "secrets.slackBotToken" in channel["message"]
            assert obj["status"].get("slackChannelId") is None
        # everything else is in place: namespace, collection, registrations without a channel
        assert cluster.get("namespaces", NS)["metadata"]["labels"]["oblivion.dev/workgroup"] == WG
        assert operator.call(operator.ctx.qdrant.exists("tenant_squad-backend"))
        tenant = nexus_admin.get(f"workgroups/{WG}")
        assert tenant is not None
        assert tenant["slackChannelId"] is None
        mapping = nexus_admin.get(f"workgroups/{WG}/projects/auth-refactor")
        assert mapping is not None
        assert mapping["slackChannelId"] is None
        assert mapping["clickupListId"] == "901201234567"
        assert nexus_admin.get(f"workgroups/{WG}/agents/backend-bot") is not None

        # said once as an Event, not on every reconcile
        cluster.patch("projects", "auth-refactor", {"spec": {"displayName": "Auth refactor (2)"}}, NS)
        cluster.wait_for(
            lambda: (
                (nexus_admin.get(f"workgroups/{WG}/projects/auth-refactor") or {}).get("displayName")
                == "Auth refactor (2)"
            ),
            timeout=30,
            message="the renamed project reaches Nexus",
        )

        def slack_events() -> list[dict[str, Any]]:
            return [
                e
                for e in cluster.list("events", NS)
                if e["involvedObject"].get("name") == "auth-refactor"
                and "no Slack bot token" in e.get("message", "")
            ]

        cluster.wait_for(lambda: bool(slack_events()), timeout=10, message="the missing token is evented")
        assert len(slack_events()) == 1
    assert slack.calls == []  # nothing was sent to Slack, not even with an empty token


def test_a_slack_token_configured_later_creates_the_channels_on_restart(
    cluster: Cluster, operator_settings: OperatorSettings, slack: FakeSlack, nexus_admin: NexusAdmin
) -> None:
    with start_operator(cluster, _without_slack(operator_settings)):
        cluster.apply_file(EXAMPLES / "workgroup.yaml")
        cluster.wait_for_object("workgroups", WG, condition=_slack_channel_is("False"), timeout=30)
        cluster.apply_file(EXAMPLES / "project.yaml")
        cluster.wait_for_object(
            "projects", "auth-refactor", NS, condition=_slack_channel_is("False"), timeout=30
        )
    assert slack.channels == []

    with start_operator(cluster, operator_settings):
        workgroup = cluster.wait_for_object("workgroups", WG, condition=_slack_channel_is("True"), timeout=30)
        project = cluster.wait_for_object(
            "projects", "auth-refactor", NS, condition=_slack_channel_is("True"), timeout=30
        )
    channel = slack.channel_named("squad-backend")
    project_channel = slack.channel_named("proj-auth-refactor")
    assert channel is not None
    assert project_channel is not None
    assert workgroup["status"]["slackChannelId"] == channel["id"]
    assert project["status"]["slackChannelId"] == project_channel["id"]
    assert _condition(workgroup, "SlackChannel")["reason"] == "ChannelReady"
    assert (nexus_admin.get(f"workgroups/{WG}") or {}).get("slackChannelId") == channel["id"]
    mapping = nexus_admin.get(f"workgroups/{WG}/projects/auth-refactor") or {}
    assert mapping.get("slackChannelId") == project_channel["id"]


def test_a_channel_id_to_adopt_is_recorded_unverified_without_a_slack_token(
    cluster: Cluster, operator_settings: OperatorSettings, slack: FakeSlack, nexus_admin: NexusAdmin
) -> None:
    with start_operator(cluster, _without_slack(operator_settings)):
        cluster.create(
            {
                "apiVersion": "oblivion.dev/v1alpha1",
                "kind": "Workgroup",
                "metadata": {"name": "wg-adopt"},
                "spec": {"slack": {"channelId": "C024BE91L"}},
            }
        )
        workgroup = cluster.wait_for_object(
            "workgroups", "wg-adopt", condition=_slack_channel_is("Unknown"), timeout=30
        )
    channel = _condition(workgroup, "SlackChannel")
    assert channel["reason"] == "NotVerified"
    assert "C024BE91L" in channel["message"]
    assert workgroup["status"]["slackChannelId"] == "C024BE91L"
    assert (nexus_admin.get("workgroups/wg-adopt") or {}).get("slackChannelId") == "C024BE91L"
    assert slack.calls == []


def test_deleting_under_delete_policy_without_slack_leaves_the_channel_and_finishes(
    cluster: Cluster, operator_settings: OperatorSettings, slack: FakeSlack, nexus_admin: NexusAdmin
) -> None:
    with start_operator(cluster, _without_slack(operator_settings)):
        cluster.create(
            {
                "apiVersion": "oblivion.dev/v1alpha1",
                "kind": "Workgroup",
                "metadata": {"name": "wg-gone"},
                "spec": {"retentionPolicy": "Delete", "slack": {"channelId": "C024BE91M"}},
            }
        )
        cluster.wait_for_object("workgroups", "wg-gone", condition=ready, timeout=30)
        cluster.delete("workgroups", "wg-gone")
        cluster.wait_for_deletion("workgroups", "wg-gone", timeout=30)
    assert nexus_admin.get("workgroups/wg-gone") is None
    assert slack.calls == []
