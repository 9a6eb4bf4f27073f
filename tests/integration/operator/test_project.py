"""Project: channel created or adopted, mapping in Nexus, archiving, NotInWorkgroup, deletion."""

from __future__ import annotations

from typing import Any

from oblivion_operator.settings import OperatorSettings
from tests.controlplane import Cluster
from tests.fakes.slack import FakeSlack
from tests.support.operator import NexusAdmin, not_ready_because, ready, start_operator

WG, NS = "proj-wg", "wg-proj-wg"


_list_ids: dict[str, int] = {}


def _project(name: str, **spec: Any) -> dict[str, Any]:
    _list_ids.setdefault(name, len(_list_ids) + 1)
    return {
        "apiVersion": "oblivion.dev/v1alpha1",
        "kind": "Project",
        "metadata": {"name": name, "namespace": NS},
        # ClickUp list ids are unique across projects: derive one from the name
        "spec": {
            "displayName": name.title(),
            "clickup": {"listId": str(90120000000 + _list_ids[name])},
            **spec,
        },
    }


def _start_workgroup(cluster: Cluster) -> None:
    cluster.create(
        {
            "apiVersion": "oblivion.dev/v1alpha1",
            "kind": "Workgroup",
            "metadata": {"name": WG},
            "spec": {"slack": {"channelName": WG}},
        }
    )
    cluster.wait_for_object("workgroups", WG, condition=ready, timeout=30)


def test_project_gets_a_default_channel_and_a_mapping_in_nexus(
    cluster: Cluster, operator_settings: OperatorSettings, slack: FakeSlack, nexus_admin: NexusAdmin
) -> None:
    with start_operator(cluster, operator_settings):
        _start_workgroup(cluster)
        cluster.create(
            _project("payments", clickup={"listId": "901200000002", "statusMap": {"DONE": "complete"}})
        )
        project = cluster.wait_for_object("projects", "payments", NS, condition=ready, timeout=30)
    channel = slack.channel_named("proj-payments")
    assert channel is not None
    assert project["status"]["slackChannelId"] == channel["id"]
    assert project["status"]["phase"] == "Active"
    mapping = nexus_admin.get(f"workgroups/{WG}/projects/payments")
    assert mapping is not None
    assert mapping["clickupListId"] == "901200000002"
    assert mapping["statusMap"] == {"DONE": "complete"}
    assert mapping["archived"] is False


def test_project_adopts_an_existing_channel_by_id_and_joins_it(
    cluster: Cluster, operator_settings: OperatorSettings, slack: FakeSlack
) -> None:
    existing = slack.add_channel("team-payments")
    with start_operator(cluster, operator_settings):
        _start_workgroup(cluster)
        cluster.create(_project("adopted", slack={"channelId": existing["id"]}))
        project = cluster.wait_for_object("projects", "adopted", NS, condition=ready, timeout=30)
    assert project["status"]["slackChannelId"] == existing["id"]
    assert slack.channel(existing["id"])["is_member"] is True
    assert not slack.calls_to("conversations.create")[1:]  # only the workgroup's channel was created


def test_adopting_a_missing_channel_is_reported(
    cluster: Cluster, operator_settings: OperatorSettings
) -> None:
    with start_operator(cluster, operator_settings):
        _start_workgroup(cluster)
        cluster.create(_project("ghost", slack={"channelId": "C0NOSUCH01"}))
        project = cluster.wait_for_object(
            "projects", "ghost", NS, condition=not_ready_because("ChannelNotFound")
        )
    assert "C0NOSUCH01" in project["status"]["conditions"][0]["message"]


def test_archiving_a_project_archives_its_channel_and_mapping(
    cluster: Cluster, operator_settings: OperatorSettings, slack: FakeSlack, nexus_admin: NexusAdmin
) -> None:
    with start_operator(cluster, operator_settings):
        _start_workgroup(cluster)
        cluster.create(_project("finished"))
        project = cluster.wait_for_object("projects", "finished", NS, condition=ready, timeout=30)
        cluster.patch("projects", "finished", {"spec": {"archived": True}}, NS)
        archived = cluster.wait_for_object(
            "projects", "finished", NS, condition=lambda p: p["status"].get("phase") == "Archived", timeout=20
        )
    assert archived["status"]["slackChannelId"] == project["status"]["slackChannelId"]
    assert slack.channel(project["status"]["slackChannelId"])["is_archived"] is True
    assert (nexus_admin.get(f"workgroups/{WG}/projects/finished") or {}).get("archived") is True


def test_project_past_its_end_date_is_archived(
    cluster: Cluster, operator_settings: OperatorSettings, slack: FakeSlack
) -> None:
    with start_operator(cluster, operator_settings):
        _start_workgroup(cluster)
        cluster.create(_project("over", startDate="2025-01-01", endDate="2025-03-31"))
        project = cluster.wait_for_object(
            "projects",
            "over",
            NS,
            condition=lambda p: (p.get("status") or {}).get("phase") == "Archived",
            timeout=30,
        )
    assert slack.channel(project["status"]["slackChannelId"])["is_archived"] is True


def test_project_outside_a_workgroup_namespace_is_not_ready(
    cluster: Cluster, operator_settings: OperatorSettings, slack: FakeSlack
) -> None:
    cluster.create_namespace("plain")
    with start_operator(cluster, operator_settings):
        cluster.create({**_project("lost"), "metadata": {"name": "lost", "namespace": "plain"}})
        cluster.wait_for_object("projects", "lost", "plain", condition=not_ready_because("NotInWorkgroup"))
    assert slack.channel_named("proj-lost") is None


def test_deleting_under_delete_archives_and_under_retain_keeps_the_channel(
    cluster: Cluster, operator_settings: OperatorSettings, slack: FakeSlack, nexus_admin: NexusAdmin
) -> None:
    with start_operator(cluster, operator_settings):
        _start_workgroup(cluster)
        cluster.create(_project("gone", retentionPolicy="Delete"))
        cluster.create(_project("kept", retentionPolicy="Retain"))
        gone = cluster.wait_for_object("projects", "gone", NS, condition=ready, timeout=30)
        kept = cluster.wait_for_object("projects", "kept", NS, condition=ready, timeout=30)
        cluster.delete("projects", "gone", NS)
        cluster.delete("projects", "kept", NS)
        cluster.wait_for_deletion("projects", "gone", NS, timeout=30)
        cluster.wait_for_deletion("projects", "kept", NS, timeout=30)
    assert slack.channel(gone["status"]["slackChannelId"])["is_archived"] is True
    assert slack.channel(kept["status"]["slackChannelId"])["is_archived"] is False
    assert nexus_admin.get(f"workgroups/{WG}/projects/gone") is None
    assert nexus_admin.get(f"workgroups/{WG}/projects/kept") is None
