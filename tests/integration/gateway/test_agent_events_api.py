"""The registry routes of live agents: presence, queueing events, and what /metrics counts."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.gateway import (
    WORKGROUP,
    ack,
    agent_token,
    connect_agent,
    next_event,
    queue_event,
    register_agent,
)
from tests.support.waiting import eventually

EVENTS = f"/internal/v1/workgroups/{WORKGROUP}/agents/coder/events"


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"type": "HEARTBEAT", "data": {}}, "type"),
        ({"type": "NOT_A_TYPE", "data": {}}, "type"),
        ({"type": "TASK_ASSIGNED", "data": {"title": "no task id or project"}}, "data"),
        ({"type": "WAKE_UP", "data": {}, "extra": 1}, "extra"),
        ({"data": {}}, "type"),
    ],
)
async def test_invalid_event_is_refused_with_422_and_nothing_is_queued(nexus, body, where) -> None:
    await register_agent(nexus, "coder")
    async with nexus.admin() as admin:
        r = await admin.post(EVENTS, json=body)
        assert r.status_code == 422, r.text
        assert any(where in [str(p) for p in problem["loc"]] for problem in r.json()["detail"]), r.text
        r = await admin.get(EVENTS.replace("/events", "/presence"))
    assert r.json()["pendingEvents"] == 0


async def test_an_unknown_event_type_or_bad_data_is_named_in_the_422_body(nexus) -> None:
    await register_agent(nexus, "coder")
    async with nexus.admin() as admin:
        unknown = await admin.post(EVENTS, json={"type": "NOT_A_TYPE", "data": {}})
        bad_data = await admin.post(EVENTS, json={"type": "TASK_ASSIGNED", "data": {"task_id": "86a1"}})
    assert unknown.status_code == 422
    [problem] = unknown.json()["detail"]
    assert problem["loc"] == ["body", "type"]
    assert problem["msg"].startswith("must be one of ")
    assert "TASK_ASSIGNED" in problem["msg"]
    assert problem["type"] == "enum"
    assert bad_data.status_code == 422
    problems = bad_data.json()["detail"]
    assert {tuple(p["loc"]) for p in problems} == {("body", "data", "project"), ("body", "data", "title")}
    assert all(set(p) == {"loc", "msg", "type"} and p["type"] == "missing" for p in problems)


async def test_a_valid_task_assignment_is_accepted_with_its_id(nexus) -> None:
    await register_agent(nexus, "coder")
    async with nexus.admin() as admin:
        r = await admin.post(
            EVENTS,
            json={"type": "TASK_ASSIGNED", "data": {"task_id": "86a1", "project": "p", "title": "Fix it"}},
        )
    assert r.status_code == 202
    assert r.json()["id"]


async def test_unknown_agent_has_no_presence_and_takes_no_events(nexus) -> None:
    async with nexus.admin() as admin:
        presence = await admin.get(f"/internal/v1/workgroups/{WORKGROUP}/agents/nobody/presence")
        queued = await admin.post(
            f"/internal/v1/workgroups/{WORKGROUP}/agents/nobody/events", json={"type": "WAKE_UP", "data": {}}
        )
    assert (presence.status_code, queued.status_code) == (404, 404)


async def test_presence_and_events_need_the_admin_token(nexus) -> None:
    await register_agent(nexus, "coder")
    async with nexus.admin() as admin:
        admin.headers["Authorization"] = "Bearer wrong"
        assert (await admin.get(EVENTS.replace("/events", "/presence"))).status_code == 401
        assert (await admin.post(EVENTS, json={"type": "WAKE_UP", "data": {}})).status_code == 401


def _samples(text: str) -> dict[str, float]:
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if not sample.labels or (set(sample.labels) == {"le"} and sample.labels["le"] == "+Inf"):
                values[sample.name] = sample.value
    return values


async def test_metrics_count_connections_and_the_life_of_an_event(nexus) -> None:
    await register_agent(nexus, "coder")
    ws = await connect_agent(nexus, agent_token(nexus, "coder"))
    try:
        event_id = await queue_event(nexus, "coder", "count me")
        await next_event(ws)
        await ack(ws, event_id)

        async def counted() -> dict[str, float]:
            async with nexus.admin() as admin:
                r = await admin.get("/metrics")
            assert r.headers["content-type"].startswith("text/plain")
            values = _samples(r.text)
            return values if values.get("oblivion_events_acked_total") == 1 else {}

        values = await eventually(counted, what="the ack to be counted")
    finally:
        await ws.close()
    assert values["oblivion_agent_connections"] == 1
    assert values["oblivion_events_queued_total"] == 1
    assert values["oblivion_events_delivered_total"] == 1
    assert values["oblivion_events_expired_total"] == 0
    assert values["oblivion_event_delivery_latency_seconds_count"] == 1
