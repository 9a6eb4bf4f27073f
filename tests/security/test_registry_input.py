"""Registry input an attacker (or a buggy operator) controls: values longer than their columns, NUL,
lone surrogates, unknown task states, a channel of another tenant. Each is a 422 naming the field (409
for the channel), never a 500, and no SQL parameter ever reaches the log. Against a real
``oblivion nexus serve``; the last test lets hypothesis search the whole registry API for a 500.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert
from sqlalchemy.exc import DBAPIError

from oblivion_nexus.stores import tables as t
from oblivion_nexus.stores.db import create_engine
from tests.security.shared_nexus import security_env, security_nexus
from tests.support.nexus import NexusProcess


@pytest.fixture(scope="module")
def nexus(postgres_url: str, redis_url: str, secret_registry: Any) -> Iterator[NexusProcess]:
    with security_nexus(security_env(postgres_url, redis_url, secret_registry), secret_registry) as proc:
        yield proc


def put(nexus: NexusProcess, path: str, body: object, http: httpx.Client | None = None) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {**nexus.admin_headers(), "Content-Type": "application/json"}
    return (http or httpx).put(
        nexus.url + "/internal/v1" + path, content=content, headers=headers, timeout=10
    )  # type: ignore[attr-defined,no-any-return]


def agent_body(**fields: object) -> dict[str, object]:
    return {"clientId": "cid-" + uuid.uuid4().hex, "clientSecret": secrets.token_urlsafe(24), **fields}


def problems(response: httpx.Response) -> list[dict[str, Any]]:
    detail = response.json()["detail"]
    assert isinstance(detail, list), detail
    return detail


BAD_VALUES = [
    ("/workgroups/wg-a", {"namespace": "n" * 300}, "namespace"),
    ("/workgroups/wg-a", {"displayName": "d" * 20_000}, "displayName"),
    ("/workgroups/wg-a", {"displayName": "a\u0000b"}, "displayName"),
    ("/workgroups/wg-a", {"slackChannelId": "C" * 100}, "slackChannelId"),
    ("/workgroups/wg-a/projects/p", {"statusMap": {"TODO": "to do", "SHIPPED": "done"}}, "statusMap"),
    ("/workgroups/wg-a/projects/p", {"statusMap": {"DONE": "x" * 500}}, "statusMap"),
    ("/workgroups/wg-a/projects/p", {"clickupListId": "9" * 100}, "clickupListId"),
    ("/workgroups/wg-a/agents/bot", agent_body(projects=["p" * 300]), "projects"),
    ("/workgroups/wg-a/agents/bot", agent_body(iconEmoji=":" + "x" * 200 + ":"), "iconEmoji"),
    ("/workgroups/wg-a/agents/bot", agent_body(clickupUserId="1" * 100), "clickupUserId"),
    ("/workgroups/wg-a/agents/bot", agent_body(displayName="Bot\u0000"), "displayName"),
    ("/workgroups/wg-a/agents/bot", agent_body(iconUrl="https://x.example/" + "a" * 5000), "iconUrl"),
    (
        "/workgroups/wg-a/credentials/c",
        {"type": "http", "value": "v" * 10, "config": {"k": "\u0000"}},
        "config",
    ),
]


@pytest.mark.parametrize(
    ("path", "body", "field"), BAD_VALUES, ids=[f"{b[2]}-{i}" for i, b in enumerate(BAD_VALUES)]
)
def test_a_value_the_database_cannot_store_is_a_422_naming_the_field(
    nexus: NexusProcess, path: str, body: dict[str, object], field: str
) -> None:
    assert put(nexus, "/workgroups/wg-a", {}).status_code in (200, 201)
    if "/projects/" in path or "/agents/" in path:
        assert put(nexus, "/workgroups/wg-a/projects/p", {"clickupListId": uuid.uuid4().hex[:12]}).is_success
    answer = put(nexus, path, body)
    assert answer.status_code == 422, answer.text
    assert any(field in problem["loc"] for problem in problems(answer)), answer.text
    assert "client_secret_hash" not in nexus.output()
    assert "Traceback" not in nexus.output()


def test_a_lone_surrogate_is_a_422_not_a_database_error(nexus: NexusProcess) -> None:
    answer = put(nexus, "/workgroups/wg-s", b'{"displayName": "\\ud800 broken"}')
    assert answer.status_code == 422, answer.text
    assert any("displayName" in problem["loc"] for problem in problems(answer))


def test_a_slack_channel_belongs_to_one_workgroup_or_project(nexus: NexusProcess) -> None:
    assert put(nexus, "/workgroups/alpha", {"slackChannelId": "CALPHA01"}).status_code in (200, 201)
    assert put(nexus, "/workgroups/bravo", {}).status_code in (200, 201)
    project_of_alpha = put(nexus, "/workgroups/alpha/projects/web", {"slackChannelId": "CWEB0001"})
    assert project_of_alpha.status_code in (200, 201)

    stolen = put(nexus, "/workgroups/bravo/projects/spy", {"slackChannelId": "CALPHA01"})
    assert stolen.status_code == 409, stolen.text
    assert "CALPHA01" in stolen.json()["detail"]
    assert put(nexus, "/workgroups/bravo/projects/spy", {"slackChannelId": "CWEB0001"}).status_code == 409
    assert put(nexus, "/workgroups/bravo", {"slackChannelId": "CWEB0001"}).status_code == 409
    assert put(nexus, "/workgroups/alpha/projects/api", {"slackChannelId": "CWEB0001"}).status_code == 409

    # Re-putting the owner, and a project in its own workgroup's channel, stay allowed.
    assert put(nexus, "/workgroups/alpha/projects/web", {"slackChannelId": "CWEB0001"}).status_code == 200
    assert put(nexus, "/workgroups/alpha/projects/ops", {"slackChannelId": "CALPHA01"}).status_code == 201
    assert put(nexus, "/workgroups/alpha", {"slackChannelId": "CALPHA01"}).status_code == 200


async def test_database_errors_carry_no_sql_parameters(postgres_url: str) -> None:
    canary = "canary-" + secrets.token_hex(16)
    engine = create_engine(postgres_url, pool_size=1)
    try:
        async with engine.begin() as conn:
            with pytest.raises(DBAPIError) as raised:
                await conn.execute(insert(t.Workgroup).values(name="wg-canary", namespace=canary * 20))
    finally:
        await engine.dispose()
    assert "value too long" in str(raised.value)
    assert canary not in str(raised.value)


# -- hypothesis: no input anywhere in the registry API gets a 500 --------------------------------

nasty_text = st.sampled_from(["", "\u0000", "\ud800", "a" * 300, "é" * 70, " ", "@x", "9" * 65]) | st.text(
    max_size=40
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | nasty_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(nasty_text, inner, max_size=4),
    max_leaves=20,
)
FIELDS = {
    "workgroups": ["displayName", "namespace", "slackChannelId", "collection"],
    "projects": ["displayName", "clickupListId", "slackChannelId", "statusMap", "archived"],
    "agents": [
        "displayName",
        "clientId",
        "clientSecret",
        "aliases",
        "projects",
        "clickupUserId",
        "rateLimitPerMinute",
        "iconUrl",
        "iconEmoji",
        "disabled",
    ],
    "credentials": ["type", "value", "allowedActions", "agents", "config"],
}
names = st.sampled_from(["wg-h", "p", "bot", "c", "x" * 253, "a.b", "UPPER", "-x", "%00", "a%20b"])


def bodies(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from(FIELDS[kind]) | nasty_text, json_values, max_size=6)


requests_ = st.one_of(
    st.tuples(st.just("workgroups"), names, st.just(""), bodies("workgroups")),
    *(
        st.tuples(st.just(kind), st.just("wg-h"), names, bodies(kind))
        for kind in ("projects", "agents", "credentials")
    ),
)


@pytest.fixture
def fuzz_http(nexus: NexusProcess) -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as http:
        assert put(nexus, "/workgroups/wg-h", {}, http).status_code in (200, 201)
        yield http


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(request=requests_)
def test_no_registry_input_gets_a_500(
    nexus: NexusProcess, fuzz_http: httpx.Client, request: tuple[str, str, str, dict[str, Any]]
) -> None:
    kind, first, second, body = request
    path = f"/workgroups/{first}" if kind == "workgroups" else f"/workgroups/{first}/{kind}/{second}"
    answer = put(nexus, path, json.dumps(body).encode(), fuzz_http)
    assert answer.status_code in {200, 201, 404, 409, 422}, (
        f"PUT {path} {body!r} -> {answer.status_code} {answer.text}"
    )
    read = fuzz_http.get(nexus.url + "/internal/v1" + path, headers=nexus.admin_headers())
    assert read.status_code in {200, 404, 422}, f"GET {path} -> {read.status_code}"
