"""``POST /oauth/token``: agents obtain tokens with standard OAuth2 clients; errors follow RFC 6749."""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import quote_plus

import httpx
import pytest
from authlib.integrations.httpx_client import AsyncOAuth2Client

from oblivion_nexus.services.auth.tokens import verify_access_token
from tests.secret_logs import SecretRegistry
from tests.support.nexus import RunningNexus, migrate_database, nexus_settings, running_nexus


@dataclass
class RegisteredAgent:
    workgroup: str
    name: str
    client_id: str
    client_secret: str


@pytest.fixture
async def nexus(nexus_env: dict[str, str]) -> AsyncIterator[RunningNexus]:
    settings = nexus_settings(nexus_env)
    migrate_database(settings.database.url)
    async with running_nexus(settings) as running:
        yield running


async def _register(
    nexus: RunningNexus, secret_registry: SecretRegistry, *, projects: list[str], disabled: bool = False
) -> RegisteredAgent:
    wg = f"wg-{uuid.uuid4().hex[:8]}"
    agent = RegisteredAgent(wg, "reviewer", f"client-{uuid.uuid4().hex[:8]}", secrets.token_urlsafe(32))
    secret_registry.add(agent.client_secret)
    async with httpx.AsyncClient(base_url=nexus.url + "/internal/v1", headers=nexus.admin_headers()) as admin:
        assert (await admin.put(f"/workgroups/{wg}", json={})).status_code == 201
        for project in ("payments", "search"):
            assert (await admin.put(f"/workgroups/{wg}/projects/{project}", json={})).status_code == 201
        body = {
            "clientId": agent.client_id,
            "clientSecret": agent.client_secret,
            "projects": projects,
            "disabled": disabled,
        }
        assert (await admin.put(f"/workgroups/{wg}/agents/reviewer", json=body)).status_code == 201
    return agent


@pytest.fixture
async def agent(nexus: RunningNexus, secret_registry: SecretRegistry) -> RegisteredAgent:
    return await _register(nexus, secret_registry, projects=["payments"])


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post"])
async def test_third_party_oauth2_client_obtains_a_token_that_nexus_accepts(
    nexus: RunningNexus, agent: RegisteredAgent, secret_registry: SecretRegistry, auth_method: str
) -> None:
    async with AsyncOAuth2Client(
        client_id=agent.client_id, client_secret=agent.client_secret, token_endpoint_auth_method=auth_method
    ) as client:
        token = await client.fetch_token(nexus.url + "/oauth/token", grant_type="client_credentials")
    secret_registry.add(token["access_token"])
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 900
    identity = verify_access_token(nexus.settings, token["access_token"])
    assert (identity.workgroup, identity.agent, identity.projects) == (
        agent.workgroup,
        "reviewer",
        ("payments",),
    )


async def test_agent_without_projects_gets_every_project_of_its_workgroup(
    nexus: RunningNexus, secret_registry: SecretRegistry
) -> None:
    agent = await _register(nexus, secret_registry, projects=[])
    async with httpx.AsyncClient() as client:
        response = await client.post(
            nexus.url + "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(agent.client_id, agent.client_secret),
        )
    assert response.status_code == 200
    secret_registry.add(response.json()["access_token"])
    assert response.headers["cache-control"] == "no-store"
    identity = verify_access_token(nexus.settings, response.json()["access_token"])
    assert identity.projects == ("payments", "search")


async def _token_request(
    nexus: RunningNexus, *, data: dict[str, str] | str, headers: dict[str, str] | None = None
) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        if isinstance(data, str):
            return await client.post(nexus.url + "/oauth/token", content=data, headers=headers)
        return await client.post(nexus.url + "/oauth/token", data=data, headers=headers)


def _basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


async def test_wrong_secret_is_invalid_client_with_401_and_basic_challenge(
    nexus: RunningNexus, agent: RegisteredAgent
) -> None:
    response = await _token_request(
        nexus,
        data={"grant_type": "client_credentials"},
        headers=_basic(agent.client_id, "wrong-secret-value"),
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic")
    assert response.headers["cache-control"] == "no-store"


async def test_unknown_client_id_is_invalid_client(nexus: RunningNexus) -> None:
    response = await _token_request(
        nexus, data={"grant_type": "client_credentials", "client_id": "nobody", "client_secret": "whatever-1"}
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


async def test_disabled_agent_gets_no_token(nexus: RunningNexus, secret_registry: SecretRegistry) -> None:
    agent = await _register(nexus, secret_registry, projects=[], disabled=True)
    response = await _token_request(
        nexus, data={"grant_type": "client_credentials"}, headers=_basic(agent.client_id, agent.client_secret)
    )
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_client", "error_description": "this agent is disabled"}


async def test_missing_client_authentication_is_invalid_client(nexus: RunningNexus) -> None:
    response = await _token_request(nexus, data={"grant_type": "client_credentials"})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


async def test_other_grant_types_are_unsupported(nexus: RunningNexus, agent: RegisteredAgent) -> None:
    response = await _token_request(
        nexus, data={"grant_type": "password", "username": "u", "password": "p"}, headers=_basic("a", "b")
    )
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        ({}, {}),  # no grant_type
        ("grant_type=client_credentials&grant_type=client_credentials", {}),
        ('{"grant_type": "client_credentials"}', {"Content-Type": "application/json"}),
        ({"grant_type": "client_credentials", "client_secret": "x"}, _basic("a", "b")),
        ({"grant_type": "client_credentials"}, {"Authorization": "Basic not-base64!"}),
    ],
    ids=["no-grant-type", "repeated-parameter", "json-body", "two-auth-methods", "broken-basic"],
)
async def test_malformed_requests_are_invalid_request(
    nexus: RunningNexus, body: dict[str, str] | str, headers: dict[str, str]
) -> None:
    if isinstance(body, str) and "Content-Type" not in headers:
        headers = {**headers, "Content-Type": "application/x-www-form-urlencoded"}
    response = await _token_request(nexus, data=body, headers=headers)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert response.json()["error_description"]


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post"])
async def test_secret_with_reserved_characters_works_with_either_client_authentication(
    nexus: RunningNexus, secret_registry: SecretRegistry, auth_method: str
) -> None:
    agent = await _register(nexus, secret_registry, projects=[])
    odd_secret = "p@ss:w+rd/%20&=" + secrets.token_urlsafe(16)
    secret_registry.add(odd_secret)
    async with httpx.AsyncClient(base_url=nexus.url + "/internal/v1", headers=nexus.admin_headers()) as admin:
        body = {"clientId": agent.client_id, "clientSecret": odd_secret}
        assert (
            await admin.put(f"/workgroups/{agent.workgroup}/agents/reviewer", json=body)
        ).status_code == 200
    async with AsyncOAuth2Client(
        client_id=agent.client_id, client_secret=odd_secret, token_endpoint_auth_method=auth_method
    ) as client:
        token = await client.fetch_token(nexus.url + "/oauth/token", grant_type="client_credentials")
    secret_registry.add(token["access_token"])
    assert verify_access_token(nexus.settings, token["access_token"]).agent == "reviewer"


async def test_rfc_form_encoded_basic_credentials_are_accepted(
    nexus: RunningNexus, secret_registry: SecretRegistry
) -> None:
    agent = await _register(nexus, secret_registry, projects=[])
    odd_secret = "a+b c:d%" + secrets.token_urlsafe(16)
    secret_registry.add(odd_secret)
    async with httpx.AsyncClient(base_url=nexus.url + "/internal/v1", headers=nexus.admin_headers()) as admin:
        body = {"clientId": agent.client_id, "clientSecret": odd_secret}
        assert (
            await admin.put(f"/workgroups/{agent.workgroup}/agents/reviewer", json=body)
        ).status_code == 200
    response = await _token_request(
        nexus,
        data={"grant_type": "client_credentials"},
        headers=_basic(quote_plus(agent.client_id), quote_plus(odd_secret)),
    )
    assert response.status_code == 200, response.text
    secret_registry.add(response.json()["access_token"])
