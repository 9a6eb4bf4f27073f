"""Flooding ``POST /oauth/token``: guessing one client's secret, or hammering from one address, is cut
off with 429 and ``Retry-After`` while other clients and addresses still get their tokens. Limits are
set low here (3 failures per client id, 8 requests per address) so the test stays short; the client
address comes from ``X-Forwarded-For``, which uvicorn honours from the loopback proxy the test is.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.security.shared_nexus import security_env, security_nexus
from tests.support.nexus import NexusProcess

FAILURES_PER_CLIENT = 3
REQUESTS_PER_ADDRESS = 8


@pytest.fixture(scope="module")
def nexus(postgres_url: str, redis_url: str, secret_registry: Any) -> Iterator[NexusProcess]:
    env = {
        **security_env(postgres_url, redis_url, secret_registry),
        "OBLIVION_TOKEN_FAILURES_PER_CLIENT_PER_MINUTE": str(FAILURES_PER_CLIENT),
        "OBLIVION_TOKEN_REQUESTS_PER_ADDRESS_PER_MINUTE": str(REQUESTS_PER_ADDRESS),
    }
    with security_nexus(env, secret_registry) as proc:
        yield proc


@pytest.fixture
def agent(nexus: NexusProcess, secret_registry: Any) -> tuple[str, str]:
    client_id, client_secret = "cid-" + uuid.uuid4().hex, secrets.token_urlsafe(24)
    secret_registry.add(client_secret)
    base = nexus.url + "/internal/v1/workgroups/rl"
    assert httpx.put(base, json={}, headers=nexus.admin_headers()).is_success
    name = "bot-" + uuid.uuid4().hex[:8]
    registered = httpx.put(
        f"{base}/agents/{name}",
        json={"clientId": client_id, "clientSecret": client_secret},
        headers=nexus.admin_headers(),
    )
    assert registered.status_code == 201, registered.text
    return client_id, client_secret


def fresh_address() -> str:
    return f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"


def ask_token(nexus: NexusProcess, client_id: str, client_secret: str, address: str) -> httpx.Response:
    return httpx.post(
        nexus.url + "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret},
        headers={"X-Forwarded-For": address},
        timeout=10,
    )


def test_guessing_one_clients_secret_is_cut_off_with_429_and_retry_after(
    nexus: NexusProcess, agent: tuple[str, str]
) -> None:
    target = "victim-" + uuid.uuid4().hex
    for attempt in range(FAILURES_PER_CLIENT):
        # Each guess from another address, as a distributed guesser would send them.
        answer = ask_token(nexus, target, f"guess-{attempt}-xxxxxxxx", fresh_address())
        assert answer.status_code == 401, answer.text
    refused = ask_token(nexus, target, "guess-next-xxxxxxxx", fresh_address())
    assert refused.status_code == 429, refused.text
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.json()["error"] == "too_many_requests"
    # Another client is not affected.
    assert ask_token(nexus, *agent, fresh_address()).status_code == 200


def test_hammering_from_one_address_is_cut_off_while_other_addresses_get_tokens(
    nexus: NexusProcess, agent: tuple[str, str]
) -> None:
    flooder = fresh_address()
    answers = [
        ask_token(nexus, "cid-" + uuid.uuid4().hex, "wrong-secret-xxxxxxxx", flooder).status_code
        for _ in range(REQUESTS_PER_ADDRESS)
    ]
    assert answers == [401] * REQUESTS_PER_ADDRESS
    refused = ask_token(nexus, *agent, flooder)
    assert refused.status_code == 429, refused.text
    assert int(refused.headers["Retry-After"]) >= 1
    assert ask_token(nexus, *agent, fresh_address()).status_code == 200
