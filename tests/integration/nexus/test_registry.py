"""The registry API as the operator uses it: idempotent upserts, strict bodies, admin-only, no secret out."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from oblivion_nexus.services.registry.entries import get_agent_status
from tests.secret_logs import SecretRegistry
from tests.support.nexus import RunningNexus, migrate_database, nexus_settings, running_nexus


@pytest.fixture
async def nexus(nexus_env: dict[str, str]) -> AsyncIterator[RunningNexus]:
    settings = nexus_settings(nexus_env)
    migrate_database(settings.database.url)
    async with running_nexus(settings) as running:
        yield running


@pytest.fixture
async def admin(nexus: RunningNexus) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=nexus.url + "/internal/v1", headers=nexus.admin_headers()
    ) as client:
        yield client


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _agent_body(secret: str, **extra: Any) -> dict[str, Any]:
    return {"displayName": "Backend AI", "clientId": _name("client"), "clientSecret": secret, **extra}


async def _workgroup(admin: httpx.AsyncClient) -> str:
    wg = _name("wg")
    response = await admin.put(f"/workgroups/{wg}", json={"displayName": "Squad", "namespace": f"wg-{wg}"})
    assert response.status_code == 201, response.text
    return wg


async def test_workgroup_put_creates_then_updates_and_get_returns_it(admin: httpx.AsyncClient) -> None:
    wg = _name("wg")
    body = {"displayName": "Backend", "namespace": "wg-backend", "slackChannelId": "C1", "collection": "t_b"}
    created = await admin.put(f"/workgroups/{wg}", json=body)
    again = await admin.put(f"/workgroups/{wg}", json=body)
    changed = await admin.put(f"/workgroups/{wg}", json={**body, "displayName": "Backend squad"})
    fetched = await admin.get(f"/workgroups/{wg}")
    assert (created.status_code, again.status_code, changed.status_code) == (201, 200, 200)
    assert created.json() == {"name": wg, **body, "summaryModel": None}  # extractive summaries
    assert again.json() == created.json()
    assert fetched.json() == {"name": wg, **body, "displayName": "Backend squad", "summaryModel": None}


async def test_unknown_field_is_refused_with_422_naming_it(admin: httpx.AsyncClient) -> None:
    response = await admin.put(f"/workgroups/{_name('wg')}", json={"displayName": "x", "slackChanelId": "C1"})
    assert response.status_code == 422
    assert any("slackChanelId" in problem["loc"] for problem in response.json()["detail"])


async def test_snake_case_fields_are_refused(admin: httpx.AsyncClient) -> None:
    response = await admin.put(f"/workgroups/{_name('wg')}", json={"display_name": "x"})
    assert response.status_code == 422


async def test_invalid_name_in_the_path_is_refused(admin: httpx.AsyncClient) -> None:
    response = await admin.put("/workgroups/Not_A_Name", json={})
    assert response.status_code == 422


_ADMIN_REALM = 'Bearer realm="oblivion-registry"'
_NO_TOKEN = ("a bearer admin token is required", _ADMIN_REALM)


@pytest.mark.parametrize(
    ("header", "refusal"),
    [
        (None, _NO_TOKEN),
        ("Basic YWRtaW46YWRtaW4=", _NO_TOKEN),
        ("Bearer", _NO_TOKEN),
        ("Bearer wrong-token", ("the admin token is wrong", f'{_ADMIN_REALM}, error="invalid_token"')),
    ],
)
async def test_missing_or_wrong_admin_token_is_refused_with_401_and_the_rfc_6750_challenge(
    nexus: RunningNexus, header: str | None, refusal: tuple[str, str]
) -> None:
    detail, challenge = refusal
    headers = {"Authorization": header} if header is not None else {}
    async with httpx.AsyncClient(base_url=nexus.url) as client:
        response = await client.get(f"/internal/v1/workgroups/{_name('wg')}", headers=headers)
        put = await client.put(f"/internal/v1/workgroups/{_name('wg')}", json={}, headers=headers)
    for answer in (response, put):
        assert answer.status_code == 401
        assert answer.json() == {"detail": detail}
        assert answer.headers["www-authenticate"] == challenge


async def test_missing_objects_answer_404_on_get_and_delete(admin: httpx.AsyncClient) -> None:
    wg = await _workgroup(admin)
    assert (await admin.get(f"/workgroups/{_name('wg')}")).status_code == 404
    assert (await admin.delete(f"/workgroups/{_name('wg')}")).status_code == 404
    assert (await admin.get(f"/workgroups/{wg}/projects/nope")).status_code == 404
    assert (await admin.delete(f"/workgroups/{wg}/agents/nope")).status_code == 404
    assert (await admin.get(f"/workgroups/{wg}/credentials/nope")).status_code == 404


async def test_project_under_an_unknown_workgroup_is_refused(admin: httpx.AsyncClient) -> None:
    response = await admin.put(f"/workgroups/{_name('wg')}/projects/p1", json={"clickupListId": "901"})
    assert response.status_code == 404
    assert "is not registered" in response.json()["detail"]


async def test_project_round_trip_and_delete(admin: httpx.AsyncClient) -> None:
    wg = await _workgroup(admin)
    list_id = str(uuid.uuid4().int)[:12]
    body = {
        "displayName": "Payments v2",
        "clickupListId": list_id,
        "slackChannelId": "C0PROJ",
        "statusMap": {"TODO": "to do", "IN_PROGRESS": "in progress", "DONE": "complete"},
        "archived": False,
    }
    created = await admin.put(f"/workgroups/{wg}/projects/payments", json=body)
    assert created.status_code == 201
    shared = {"memoryIsolation": "Shared", "collection": None}  # the defaults: the workgroup's collection
    assert created.json() == {"workgroup": wg, "name": "payments", **body, **shared}
    archived = await admin.put(f"/workgroups/{wg}/projects/payments", json={**body, "archived": True})
    assert archived.status_code == 200
    assert (await admin.get(f"/workgroups/{wg}/projects/payments")).json()["archived"] is True
    assert (await admin.delete(f"/workgroups/{wg}/projects/payments")).status_code == 204
    assert (await admin.get(f"/workgroups/{wg}/projects/payments")).status_code == 404


async def test_a_per_project_collection_is_registered_and_cleared_by_a_switch_to_shared(
    admin: httpx.AsyncClient,
) -> None:
    wg = await _workgroup(admin)
    own = {"memoryIsolation": "PerProject", "collection": f"tenant_{wg}__search"}
    created = await admin.put(f"/workgroups/{wg}/projects/search", json=own)
    assert created.status_code == 201, created.text
    assert {k: created.json()[k] for k in own} == own
    switched = await admin.put(f"/workgroups/{wg}/projects/search", json={"memoryIsolation": "Shared"})
    assert switched.status_code == 200
    fetched = (await admin.get(f"/workgroups/{wg}/projects/search")).json()
    assert (fetched["memoryIsolation"], fetched["collection"]) == ("Shared", None)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"memoryIsolation": "PerProject"}, "collection is required"),
        ({"memoryIsolation": "Shared", "collection": "tenant_x__y"}, "collection is only for"),
        ({"collection": "tenant_x__y"}, "collection is only for"),
        ({"memoryIsolation": "perproject", "collection": "tenant_x__y"}, "PerProject"),
    ],
)
async def test_a_collection_that_contradicts_the_isolation_is_refused(
    admin: httpx.AsyncClient, body: dict[str, Any], message: str
) -> None:
    wg = await _workgroup(admin)
    response = await admin.put(f"/workgroups/{wg}/projects/p1", json=body)
    assert response.status_code == 422
    assert message in str(response.json()["detail"])
    assert (await admin.get(f"/workgroups/{wg}/projects/p1")).status_code == 404


async def test_a_clickup_list_maps_to_one_project_only(admin: httpx.AsyncClient) -> None:
    wg = await _workgroup(admin)
    list_id = str(uuid.uuid4().int)[:12]
    assert (
        await admin.put(f"/workgroups/{wg}/projects/a", json={"clickupListId": list_id})
    ).status_code == 201
    clash = await admin.put(f"/workgroups/{wg}/projects/b", json={"clickupListId": list_id})
    assert clash.status_code == 409
    assert "clickupListId" in clash.json()["detail"]


async def test_agent_round_trip_never_returns_the_secret(
    admin: httpx.AsyncClient, secret_registry: SecretRegistry
) -> None:
    wg = await _workgroup(admin)
    secret = secrets.token_urlsafe(32)
    secret_registry.add(secret)
    body = _agent_body(
        secret,
        aliases=["@AI-Backend", "backend-bot"],
        projects=["payments"],
        clickupUserId=81234,
        rateLimitPerMinute=20,
        iconEmoji=":robot_face:",
        tools=[
            {"credential": "github", "actions": ["issues.*", "pulls.get"]},
            {"credential": "status-api"},
            {"builtin": "clickup", "actions": ["tasks.get", "comments.*"]},
            {"builtin": "slack"},
        ],
        model={"name": "gpt-4o-mini"},
        budget={"tokensPerTask": 200_000},
    )
    created = await admin.put(f"/workgroups/{wg}/agents/reviewer", json=body)
    again = await admin.put(f"/workgroups/{wg}/agents/reviewer", json=body)
    fetched = await admin.get(f"/workgroups/{wg}/agents/reviewer")
    assert (created.status_code, again.status_code, fetched.status_code) == (201, 200, 200)
    for response in (created, again, fetched):
        assert secret not in response.text
        assert "clientSecret" not in response.json()
    assert fetched.json() == {
        "workgroup": wg,
        "name": "reviewer",
        "displayName": "Backend AI",
        "clientId": body["clientId"],
        "aliases": ["ai-backend", "backend-bot"],
        "projects": ["payments"],
        "clickupUserId": "81234",
        "rateLimitPerMinute": 20,
        "iconUrl": None,
        "iconEmoji": ":robot_face:",
        "disabled": False,
        "allowMentions": False,
        "tools": [
            {"credential": "github", "actions": ["issues.*", "pulls.get"]},
            {"credential": "status-api", "actions": None},
            {"builtin": "clickup", "actions": ["tasks.get", "comments.*"]},
            {"builtin": "slack", "actions": None},
        ],
        "model": {"provider": "openai", "name": "gpt-4o-mini", "endpoint": None, "credential": None},
        "budget": {"tokensPerTask": 200_000},
    }


async def test_only_a_hash_of_the_client_secret_is_stored(
    admin: httpx.AsyncClient, nexus: RunningNexus, secret_registry: SecretRegistry
) -> None:
    wg = await _workgroup(admin)
    secret = secrets.token_urlsafe(32)
    secret_registry.add(secret)
    assert (await admin.put(f"/workgroups/{wg}/agents/a1", json=_agent_body(secret))).status_code == 201
    engine = create_async_engine(nexus.settings.database.url)
    try:
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    text("SELECT a::text AS whole FROM agents a WHERE workgroup = :wg AND name = 'a1'"),
                    {"wg": wg},
                )
            ).one()
    finally:
        await engine.dispose()
    assert secret not in row.whole
    assert "scrypt$" in row.whole


async def test_alias_taken_by_another_agent_of_the_workgroup_is_a_conflict(
    admin: httpx.AsyncClient, secret_registry: SecretRegistry
) -> None:
    wg = await _workgroup(admin)
    secret = secrets.token_urlsafe(24)
    secret_registry.add(secret)
    ok = await admin.put(f"/workgroups/{wg}/agents/a1", json=_agent_body(secret, aliases=["ai-backend"]))
    clash = await admin.put(f"/workgroups/{wg}/agents/a2", json=_agent_body(secret, aliases=["AI-backend"]))
    assert ok.status_code == 201
    assert clash.status_code == 409
    assert "alias" in clash.json()["detail"]
    assert (await admin.get(f"/workgroups/{wg}/agents/a2")).status_code == 404  # nothing half-written


async def test_a_client_id_belongs_to_one_agent(
    admin: httpx.AsyncClient, secret_registry: SecretRegistry
) -> None:
    wg = await _workgroup(admin)
    secret = secrets.token_urlsafe(24)
    secret_registry.add(secret)
    body = _agent_body(secret)
    assert (await admin.put(f"/workgroups/{wg}/agents/a1", json=body)).status_code == 201
    clash = await admin.put(f"/workgroups/{wg}/agents/a2", json=body)
    assert clash.status_code == 409
    assert "clientId" in clash.json()["detail"]


async def test_422_for_a_short_secret_does_not_echo_it(admin: httpx.AsyncClient) -> None:
    wg = await _workgroup(admin)
    response = await admin.put(f"/workgroups/{wg}/agents/a1", json=_agent_body("tiny"))
    assert response.status_code == 422
    assert "tiny" not in response.text


async def test_disabled_flag_is_visible_to_the_gateway(admin: httpx.AsyncClient, nexus: RunningNexus) -> None:
    wg = await _workgroup(admin)
    body = _agent_body(secrets.token_urlsafe(24), disabled=True)
    assert (await admin.put(f"/workgroups/{wg}/agents/a1", json=body)).status_code == 201
    resources = nexus.app.state.resources
    record = await get_agent_status(resources, wg, "a1")
    assert record is not None
    assert record.disabled is True
    assert await get_agent_status(resources.sessionmaker, wg, "nobody") is None


async def test_credential_is_encrypted_at_rest_and_answered_with_a_fingerprint(
    admin: httpx.AsyncClient, nexus: RunningNexus, secret_registry: SecretRegistry
) -> None:
    wg = await _workgroup(admin)
    value = "ghp_" + secrets.token_urlsafe(30)
    secret_registry.add(value)
    body = {"type": "github-token", "value": value, "allowedActions": ["issues.create"], "agents": ["a1"]}
    created = await admin.put(
        f"/workgroups/{wg}/credentials/github", json={**body, "config": {"org": "acme"}}
    )
    fetched = await admin.get(f"/workgroups/{wg}/credentials/github")
    assert created.status_code == 201
    for response in (created, fetched):
        assert value not in response.text
        assert "value" not in response.json()
        assert response.json()["fingerprint"].startswith("hmac-sha256:")
    assert fetched.json()["allowedActions"] == ["issues.create"]
    assert fetched.json()["config"] == {"org": "acme"}
    assert fetched.json()["keyId"] == "k1"
    engine = create_async_engine(nexus.settings.database.url)
    try:
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    text("SELECT c::text AS whole, ciphertext FROM credentials c WHERE workgroup = :wg"),
                    {"wg": wg},
                )
            ).one()
    finally:
        await engine.dispose()
    assert value not in row.whole
    assert value.encode() not in row.ciphertext
    sealed_value = nexus.app.state.resources.master_keys
    assert sealed_value.fingerprint(value) == fetched.json()["fingerprint"]


async def test_rotated_credential_value_changes_the_fingerprint(
    admin: httpx.AsyncClient, secret_registry: SecretRegistry
) -> None:
    wg = await _workgroup(admin)
    first, second = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    secret_registry.add(first, second)
    one = await admin.put(f"/workgroups/{wg}/credentials/api", json={"type": "bearer", "value": first})
    same = await admin.put(f"/workgroups/{wg}/credentials/api", json={"type": "bearer", "value": first})
    two = await admin.put(f"/workgroups/{wg}/credentials/api", json={"type": "bearer", "value": second})
    assert (one.status_code, same.status_code, two.status_code) == (201, 200, 200)
    assert one.json()["fingerprint"] == same.json()["fingerprint"] != two.json()["fingerprint"]


async def test_deleting_a_workgroup_deletes_everything_under_it(
    admin: httpx.AsyncClient, nexus: RunningNexus, secret_registry: SecretRegistry
) -> None:
    wg = await _workgroup(admin)
    value = secrets.token_urlsafe(24)
    secret_registry.add(value)
    await admin.put(f"/workgroups/{wg}/projects/p1", json={})
    await admin.put(f"/workgroups/{wg}/agents/a1", json=_agent_body(value, aliases=["x-bot"]))
    await admin.put(f"/workgroups/{wg}/credentials/c1", json={"type": "bearer", "value": value})
    assert (await admin.delete(f"/workgroups/{wg}")).status_code == 204
    assert (await admin.get(f"/workgroups/{wg}")).status_code == 404
    engine = create_async_engine(nexus.settings.database.url)
    try:
        async with engine.connect() as conn:
            counts = [
                (
                    await conn.execute(
                        text(f"SELECT count(*) FROM {table} WHERE workgroup = :wg"), {"wg": wg}
                    )
                ).scalar()
                for table in ("projects", "agents", "agent_aliases", "credentials")
            ]
    finally:
        await engine.dispose()
    assert counts == [0, 0, 0, 0]
    # the same names can be registered again from scratch
    assert (await admin.put(f"/workgroups/{wg}", json={})).status_code == 201


async def test_concurrent_puts_of_one_object_create_it_once(
    admin: httpx.AsyncClient, secret_registry: SecretRegistry
) -> None:
    wg = _name("wg")
    answers = await asyncio.gather(
        *(admin.put(f"/workgroups/{wg}", json={"displayName": "x"}) for _ in range(8))
    )
    assert sorted(r.status_code for r in answers) == [200] * 7 + [201]
    secret = secrets.token_urlsafe(24)
    secret_registry.add(secret)
    body = _agent_body(secret, aliases=["race-bot"])
    agents = await asyncio.gather(*(admin.put(f"/workgroups/{wg}/agents/a1", json=body) for _ in range(4)))
    assert sorted(r.status_code for r in agents) == [200] * 3 + [201]
    assert (await admin.get(f"/workgroups/{wg}/agents/a1")).json()["aliases"] == ["race-bot"]


async def test_a_credential_carries_its_approval_rule_and_an_agent_its_tool_grants(
    admin: httpx.AsyncClient,
) -> None:
    wg = await _workgroup(admin)
    approval = {
        "actions": ["pulls.merge", "DELETE /*"],
        "approvers": ["UA8RXUSPL", "S0614TZR7"],
        "timeoutSeconds": 600,
    }
    body = {
        "type": "github",
        "value": "ghp_" + secrets.token_urlsafe(20),
        "allowedActions": ["*"],
        "approval": approval,
    }
    assert (await admin.put(f"/workgroups/{wg}/credentials/github", json=body)).status_code == 201
    assert (await admin.get(f"/workgroups/{wg}/credentials/github")).json()["approval"] == approval
    plain = {**body, "approval": None}
    assert (await admin.put(f"/workgroups/{wg}/credentials/plain", json=plain)).json()["approval"] is None


@pytest.mark.parametrize(
    ("kind", "field", "value"),
    [
        ("credentials", "approval", {"actions": ["pulls.merge"], "approvers": ["not-a-slack-id"]}),
        ("credentials", "approval", {"actions": [], "approvers": ["UA8RXUSPL"]}),
        ("credentials", "approval", {"actions": ["rm -rf"], "approvers": ["UA8RXUSPL"]}),
        (
            "credentials",
            "approval",
            {"actions": ["pulls.merge"], "approvers": ["UA8RXUSPL"], "timeoutSeconds": 5},
        ),
        ("agents", "tools", [{"credential": "github", "actions": ["TRACE /x"]}]),
        ("agents", "tools", [{"credential": "", "actions": None}]),
        ("agents", "tools", [{"credential": "github", "extra": 1}]),
        ("agents", "tools", [{"credential": "github", "builtin": "clickup"}]),
        ("agents", "tools", [{"actions": ["*"]}]),
        ("agents", "tools", [{"builtin": "jira"}]),
        ("agents", "tools", [{"builtin": "slack", "actions": ["tasks.get"]}]),
    ],
)
async def test_malformed_tool_grants_and_approval_rules_are_refused_naming_the_field(
    admin: httpx.AsyncClient, kind: str, field: str, value: Any
) -> None:
    wg = await _workgroup(admin)
    if kind == "credentials":
        body: dict[str, Any] = {
            "type": "github",
            "value": "ghp_x1234567",
            "allowedActions": ["*"],
            field: value,
        }
    else:
        body = _agent_body(secrets.token_urlsafe(16), **{field: value})
    response = await admin.put(f"/workgroups/{wg}/{kind}/x", json=body)
    assert response.status_code == 422, response.text
    assert field in response.text
