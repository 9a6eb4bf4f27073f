"""Workgroup: deletion under Retain and Delete, Slack's 429 honoured, a crash mid-reconcile, drift."""

from __future__ import annotations

import socket
import time
from typing import Any

from oblivion_operator.settings import OperatorSettings
from tests.controlplane import Cluster
from tests.fakes.slack import FakeSlack
from tests.support.operator import NexusAdmin, not_ready_because, ready, start_operator


def _workgroup(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "oblivion.dev/v1alpha1",
        "kind": "Workgroup",
        "metadata": {"name": name},
        "spec": {"displayName": name.title(), "slack": {"channelName": name}, **spec},
    }


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_delete_policy_drops_the_collection_archives_the_channel_and_unregisters(
    cluster: Cluster, operator_settings: OperatorSettings, slack: FakeSlack, nexus_admin: NexusAdmin
) -> None:
    with start_operator(cluster, operator_settings) as operator:
        cluster.create(_workgroup("wg-delete", retentionPolicy="Delete"))
        wg = cluster.wait_for_object("workgroups", "wg-delete", condition=ready, timeout=30)
        channel_id = wg["status"]["slackChannelId"]
        assert operator.call(operator.ctx.qdrant.exists("tenant_wg-delete"))

        cluster.delete("workgroups", "wg-delete")
        cluster.wait_for_deletion("workgroups", "wg-delete", timeout=30)
        assert not operator.call(operator.ctx.qdrant.exists("tenant_wg-delete"))
        assert slack.channel(channel_id)["is_archived"] is True
        assert nexus_admin.get("workgroups/wg-delete") is None
        # the garbage collector deletes the owned namespace, then the namespace controller empties it:
        # both poll and retry, so this takes seconds, not milliseconds
        cluster.wait_for_deletion("namespaces", "wg-wg-delete", timeout=90)


def test_retain_policy_keeps_collection_and_channel_but_unregisters(
    cluster: Cluster, operator_settings: OperatorSettings, slack: FakeSlack, nexus_admin: NexusAdmin
) -> None:
    with start_operator(cluster, operator_settings) as operator:
        cluster.create(_workgroup("wg-retain"))
        wg = cluster.wait_for_object("workgroups", "wg-retain", condition=ready, timeout=30)
        assert nexus_admin.get("workgroups/wg-retain") is not None

        cluster.delete("workgroups", "wg-retain")
        cluster.wait_for_deletion("workgroups", "wg-retain", timeout=30)
        assert operator.call(operator.ctx.qdrant.exists("tenant_wg-retain"))
        assert slack.channel(wg["status"]["slackChannelId"])["is_archived"] is False
        assert nexus_admin.get("workgroups/wg-retain") is None


def test_slack_rate_limit_is_retried_after_retry_after_not_sooner(
    cluster: Cluster, operator_settings: OperatorSettings, slack: FakeSlack
) -> None:
    retry_after = 2.0  # ten times the operator's own retry delay in these tests (0.2 s)
    slack.rate_limit("conversations.create", times=1, retry_after=retry_after)
    with start_operator(cluster, operator_settings):
        started = time.monotonic()
        cluster.create(_workgroup("wg-limited"))
        limited = cluster.wait_for_object(
            "workgroups", "wg-limited", condition=not_ready_because("SlackRateLimited"), timeout=10
        )
        assert "rate-limited" in limited["status"]["conditions"][0]["message"]
        cluster.wait_for_object("workgroups", "wg-limited", condition=ready, timeout=30)
        elapsed = time.monotonic() - started
    creates = slack.calls_to("conversations.create")
    assert [c.status for c in creates] == [429, 200]
    assert elapsed >= retry_after
    assert len([c for c in slack.channels if c["name"] == "wg-limited"]) == 1


def test_operator_killed_mid_reconcile_and_restarted_creates_nothing_twice(
    cluster: Cluster, operator_settings: OperatorSettings, slack: FakeSlack, nexus_admin: NexusAdmin
) -> None:
    # The first operator cannot reach Nexus: it creates the namespace, collection and channel, then
    # fails before recording them in status, and is killed there.
    unreachable = operator_settings.model_copy(update={"nexus_url": _closed_port_url()})
    with start_operator(cluster, unreachable) as first:
        cluster.create(_workgroup("wg-crash"))
        cluster.wait_for_object(
            "workgroups", "wg-crash", condition=not_ready_because("NexusUnavailable"), timeout=20
        )
        assert slack.channel_named("wg-crash") is not None
        assert "slackChannelId" not in (cluster.get("workgroups", "wg-crash").get("status") or {})
        first.run.kill()
    channel_id = slack.channel_named("wg-crash")["id"]

    with start_operator(cluster, operator_settings) as second:
        wg = cluster.wait_for_object("workgroups", "wg-crash", condition=ready, timeout=30)
        assert second.call(second.ctx.qdrant.exists("tenant_wg-crash"))
    assert wg["status"]["slackChannelId"] == channel_id  # adopted on name_taken, not made again
    assert len([c for c in slack.channels if c["name"] == "wg-crash"]) == 1
    assert [c.response.get("error") for c in slack.calls_to("conversations.create")] == [None, "name_taken"]
    assert len(cluster.list("namespaces", labels="oblivion.dev/workgroup=wg-crash")) == 1
    assert (nexus_admin.get("workgroups/wg-crash") or {}).get("slackChannelId") == channel_id


def test_drift_is_repaired_channel_unarchived_and_collection_recreated(
    cluster: Cluster, operator_settings: OperatorSettings, slack: FakeSlack
) -> None:
    fast = operator_settings.model_copy(update={"drift_interval_seconds": 0.5})
    with start_operator(cluster, fast) as operator:
        cluster.create(_workgroup("wg-drift"))
        wg = cluster.wait_for_object("workgroups", "wg-drift", condition=ready, timeout=30)
        channel_id = wg["status"]["slackChannelId"]

        slack.archive_channel(channel_id)
        operator.call(operator.ctx.qdrant.drop_collection("tenant_wg-drift"))
        cluster.wait_for(
            lambda: slack.channel(channel_id)["is_archived"] is False, timeout=30, message="unarchived"
        )
        cluster.wait_for(
            lambda: operator.call(operator.ctx.qdrant.exists("tenant_wg-drift")),
            timeout=30,
            message="recreated",
        )

        slack.delete_channel(channel_id)
        repaired = cluster.wait_for_object(
            "workgroups",
            "wg-drift",
            condition=lambda w: w["status"].get("slackChannelId") not in (None, channel_id),
            timeout=30,
        )
        assert slack.channel(repaired["status"]["slackChannelId"])["name"] == "wg-drift"


def test_invalid_workgroup_spec_gets_the_validation_message(
    cluster: Cluster, operator_settings: OperatorSettings
) -> None:
    # The API refuses this spec today; a Workgroup stored before the CRD grew that rule still holds it.
    cluster.create_stored_before_the_schema_tightened(_workgroup("wg-bad", memory={"isolation": "Sometimes"}))
    with start_operator(cluster, operator_settings):
        wg = cluster.wait_for_object("workgroups", "wg-bad", condition=not_ready_because("InvalidSpec"))
        assert "memory.isolation" in wg["status"]["conditions"][0]["message"]
        assert cluster.find("namespaces", "wg-wg-bad") is None


def test_the_summary_model_reaches_nexus_and_leaves_it_when_removed(
    cluster: Cluster, operator_settings: OperatorSettings, nexus_admin: NexusAdmin
) -> None:
    model = {
        "provider": "openai-compatible",
        "name": "llama-3.1-8b",
        "endpoint": "http://vllm.models:8000/v1",
    }
    with start_operator(cluster, operator_settings):
        cluster.create(
            _workgroup("wg-summaries", memory={"summaryModel": {**model, "credential": "vllm-key"}})
        )
        cluster.wait_for_object("workgroups", "wg-summaries", condition=ready, timeout=30)
        registered = nexus_admin.get("workgroups/wg-summaries")
        assert registered is not None
        assert registered["summaryModel"] == {**model, "credential": "vllm-key"}

        cluster.patch("workgroups", "wg-summaries", {"spec": {"memory": {"summaryModel": None}}})
        cluster.wait_for(
            lambda: (
                (nexus_admin.get("workgroups/wg-summaries") or {"summaryModel": "?"})["summaryModel"] is None
            ),
            timeout=30,
            message="the summary model removed in Nexus",
        )
