"""The SDK's REST client of /v1/tasks against a fake Nexus speaking HTTP: retries, keys, token renewal."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
from pydantic import SecretStr

from oblivion_agent import AgentMutedError, IllegalTransitionError, TaskApiError
from oblivion_agent._tasks import TaskClient
from oblivion_agent._token import TokenSource

NEXUS = "http://nexus.test"
POSTED = {"taskId": "t1", "channel": "C1", "threadTs": "1.0", "ts": "2.0", "clickupCommentId": "90"}


class FakeNexus:
    """Answers the token endpoint, then each /v1/tasks request with the next planned answer."""

    def __init__(self, *answers: httpx.Response) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []
        self.tokens_issued = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            self.tokens_issued += 1
            return httpx.Response(
                200,
                json={
                    "access_token": f"token-{self.tokens_issued}",
                    "token_type": "Bearer",
                    "expires_in": 900,
                },
            )
        self.requests.append(request)
        return self.answers.pop(0)


def client_for(fake: Callable[[httpx.Request], httpx.Response]) -> TaskClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(fake))
    tokens = TokenSource(NEXUS + "/oauth/token", "agent", SecretStr("secret-value"), http)
    return TaskClient(NEXUS, http, tokens)


async def test_a_say_retried_after_a_503_reuses_its_idempotency_key() -> None:
    fake = FakeNexus(
        httpx.Response(503, json={"detail": "Slack down"}, headers={"Retry-After": "0"}),
        httpx.Response(201, json=POSTED),
    )
    posted = await client_for(fake).say("t1", "hello")
    assert posted.ts == "2.0"
    keys = [request.headers["Idempotency-Key"] for request in fake.requests]
    assert len(keys) == 2
    assert keys[0] == keys[1]
    assert json.loads(fake.requests[0].content) == {"text": "hello"}


async def test_every_say_gets_its_own_key() -> None:
    fake = FakeNexus(httpx.Response(201, json=POSTED), httpx.Response(201, json=POSTED))
    client = client_for(fake)
    await client.say("t1", "one")
    await client.say("t1", "two")
    assert fake.requests[0].headers["Idempotency-Key"] != fake.requests[1].headers["Idempotency-Key"]


async def test_a_rejected_token_is_replaced_once() -> None:
    fake = FakeNexus(httpx.Response(401, json={"detail": "token expired"}), httpx.Response(201, json=POSTED))
    await client_for(fake).say("t1", "hello")
    assert [r.headers["Authorization"] for r in fake.requests] == ["Bearer token-1", "Bearer token-2"]


async def test_a_muted_agent_is_told_at_once_without_retrying() -> None:
    fake = FakeNexus(httpx.Response(429, json={"detail": "muted"}, headers={"Retry-After": "240"}))
    with pytest.raises(AgentMutedError) as muted:
        await client_for(fake).say("t1", "hello")
    assert muted.value.retry_after == 240
    assert len(fake.requests) == 1


async def test_an_illegal_transition_names_the_allowed_states() -> None:
    detail = {"message": "a task in DONE cannot move", "state": "DONE", "allowed": []}
    fake = FakeNexus(httpx.Response(409, json={"detail": detail}))
    with pytest.raises(IllegalTransitionError) as illegal:
        await client_for(fake).set_state("t1", "IN_PROGRESS")
    assert illegal.value.current == "DONE"
    assert illegal.value.allowed == []
    assert json.loads(fake.requests[0].content) == {"state": "IN_PROGRESS"}


async def test_a_refusal_that_retrying_cannot_fix_is_raised_with_its_status() -> None:
    fake = FakeNexus(httpx.Response(403, json={"detail": "task t1 is not assigned to bot"}))
    with pytest.raises(TaskApiError) as refused:
        await client_for(fake).context("t1")
    assert refused.value.status == 403
    assert "not assigned" in str(refused.value)
    assert "secret-value" not in repr(refused.value)
