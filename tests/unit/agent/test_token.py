"""The token source against a local OAuth2 token endpoint (the fake Nexus on loopback)."""

from __future__ import annotations

import base64
import logging

import httpx
import pytest
from pydantic import SecretStr

from oblivion_agent import TokenError
from oblivion_agent._token import TokenSource
from tests.fakes.nexus import CLIENT_ID, CLIENT_SECRET, FakeNexus


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_token_is_fetched_with_client_credentials_in_http_basic_auth(fake_nexus: FakeNexus) -> None:
    async with httpx.AsyncClient() as http:
        tokens = TokenSource(f"{fake_nexus.url}/oauth/token", CLIENT_ID, SecretStr(CLIENT_SECRET), http)
        token = await tokens.get()
    assert token == fake_nexus.issued[0]
    request = fake_nexus.token_requests[0]
    assert request["form"] == {"grant_type": "client_credentials"}  # the secret is not in the body
    scheme, _, credentials = request["authorization"].partition(" ")
    assert scheme == "Basic"
    # RFC 6749 §2.3.1: both parts are form-encoded before Basic encoding.
    assert base64.b64decode(credentials).decode().startswith("wg-backend%2Fai-backend:s3cr%3Aet%2B%2F%3D")


async def test_token_is_reused_until_80_percent_of_its_lifetime_has_passed(fake_nexus: FakeNexus) -> None:
    fake_nexus.expires_in = 100
    clock = FakeClock()
    async with httpx.AsyncClient() as http:
        tokens = TokenSource(
            f"{fake_nexus.url}/oauth/token", CLIENT_ID, SecretStr(CLIENT_SECRET), http, clock=clock
        )
        first = await tokens.get()
        clock.now += 79.9
        assert await tokens.get() == first
        assert tokens.seconds_until_refresh() == pytest.approx(0.1)
        assert tokens.fetches == 1

        clock.now += 0.2  # 80.1 s into a 100 s token
        second = await tokens.get()
    assert second != first
    assert tokens.fetches == 2
    assert tokens.current is not None
    assert tokens.current.expires_at == pytest.approx(clock.now + 100)


async def test_a_rejected_token_is_replaced_on_the_next_use(fake_nexus: FakeNexus) -> None:
    async with httpx.AsyncClient() as http:
        tokens = TokenSource(f"{fake_nexus.url}/oauth/token", CLIENT_ID, SecretStr(CLIENT_SECRET), http)
        first = await tokens.get()
        tokens.invalidate()
        assert await tokens.get() != first
    assert tokens.fetches == 2


async def test_concurrent_users_share_one_fetch(fake_nexus: FakeNexus) -> None:
    import asyncio

    async with httpx.AsyncClient() as http:
        tokens = TokenSource(f"{fake_nexus.url}/oauth/token", CLIENT_ID, SecretStr(CLIENT_SECRET), http)
        results = await asyncio.gather(*(tokens.get() for _ in range(10)))
    assert len(set(results)) == 1
    assert len(fake_nexus.token_requests) == 1


async def test_a_wrong_secret_is_refused_with_invalid_client_and_no_secret_in_the_error(
    fake_nexus: FakeNexus, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "not-the-secret-" + CLIENT_SECRET
    async with httpx.AsyncClient() as http:
        tokens = TokenSource(f"{fake_nexus.url}/oauth/token", CLIENT_ID, SecretStr(wrong), http)
        with pytest.raises(TokenError) as caught:
            await tokens.get()
    assert caught.value.status == 401
    assert caught.value.error == "invalid_client"
    assert "registered" in str(caught.value)
    for text in (str(caught.value), repr(caught.value), caplog.text):
        assert wrong not in text
        assert CLIENT_SECRET not in text


async def test_an_unreachable_token_endpoint_raises_a_token_error() -> None:
    async with httpx.AsyncClient() as http:
        tokens = TokenSource("http://127.0.0.1:9/oauth/token", CLIENT_ID, SecretStr(CLIENT_SECRET), http)
        with pytest.raises(TokenError, match="unreachable") as caught:
            await tokens.get()
    assert caught.value.status is None


@pytest.mark.parametrize(
    "body",
    [
        {"token_type": "Bearer", "expires_in": 60},
        {"access_token": "x", "token_type": "mac", "expires_in": 60},
        {"access_token": "x", "token_type": "Bearer", "expires_in": -5},
        {"access_token": "x", "token_type": "Bearer", "expires_in": "soon"},
    ],
)
async def test_a_malformed_token_answer_is_an_error(body: dict[str, object]) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=body)

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        tokens = TokenSource("http://nexus/oauth/token", CLIENT_ID, SecretStr(CLIENT_SECRET), http)
        with pytest.raises(TokenError):
            await tokens.get()


async def test_a_token_answer_without_expires_in_gets_a_safe_default_lifetime() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"access_token": "x", "token_type": "bearer"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        tokens = TokenSource("http://nexus/oauth/token", CLIENT_ID, SecretStr(CLIENT_SECRET), http)
        assert await tokens.get() == "x"
    assert tokens.current is not None
    assert tokens.current.expires_in == 300
