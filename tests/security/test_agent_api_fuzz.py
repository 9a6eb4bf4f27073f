"""Hypothesis against the agents' REST API (``/v1/tasks``) of a real ``oblivion nexus serve`` wired to
the fake Slack and ClickUp: whatever body, task id or ``Idempotency-Key`` an agent sends, with a good
token, the answer is never a 500, for a tracked task of the agent's and for any other id.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, select

from oblivion_nexus.stores import tables as t
from tests.fakes.clickup import FakeClickUp
from tests.fakes.slack import FakeSlack
from tests.security.shared_nexus import security_env, security_nexus
from tests.support.nexus import NexusProcess

ALLOWED = {200, 201, 400, 401, 403, 404, 409, 413, 422, 429, 503}
_FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@dataclass
class AgentTarget:
    nexus: NexusProcess
    http: httpx.Client
    token: str
    task_id: str

    def __repr__(self) -> str:  # hypothesis prints its arguments: never the token or the settings
        return f"AgentTarget(task_id={self.task_id!r})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


@pytest.fixture(scope="module")
def target(postgres_url: str, redis_url: str, secret_registry: Any) -> Iterator[AgentTarget]:
    with FakeSlack() as slack, FakeClickUp() as clickup:
        env = {
            **security_env(postgres_url, redis_url, secret_registry),
            "OBLIVION_SLACK_BOT_TOKEN": slack.bot_token,
            "OBLIVION_SLACK_API_URL": slack.url + "/api/",
            "OBLIVION_CLICKUP_TOKEN": clickup.token,
            "OBLIVION_CLICKUP_API_URL": clickup.url,
            # The fuzz posts far more than an agent's rate limit; 429s are allowed but reach less.
            "OBLIVION_AGENT_MUTE_SECONDS": "1",
        }
        with security_nexus(env, secret_registry) as nexus, httpx.Client(timeout=20) as http:
            workgroup, list_id = f"wg-{uuid.uuid4().hex[:8]}", str(700_000 + secrets.randbelow(99_999))
            channel = slack.add_channel(f"proj-{uuid.uuid4().hex[:8]}", bot_is_member=True)["id"]
            admin, base = nexus.admin_headers(), f"{nexus.url}/internal/v1/workgroups/{workgroup}"
            assert http.put(base, json={}, headers=admin).status_code == 201
            project = {"clickupListId": list_id, "slackChannelId": channel}
            assert http.put(base + "/projects/web", json=project, headers=admin).status_code == 201
            client_id, client_secret = f"{workgroup}-bot", secrets.token_urlsafe(24)
            secret_registry.add(client_secret)
            agent = {"clientId": client_id, "clientSecret": client_secret, "rateLimitPerMinute": 100_000}
            assert http.put(base + "/agents/bot", json=agent, headers=admin).status_code == 201
            granted = http.post(
                nexus.url + "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(client_id, client_secret),
            )
            token = granted.json()["access_token"]
            secret_registry.add(token)
            task = clickup.add_task(list_id=list_id, name="Fuzzed", description="")
            root = slack.workspace.post(channel, {"user": "U0LAN0Z89", "bot_id": "B1", "text": "Fuzzed"})
            engine = create_engine(env["OBLIVION_DATABASE_URL"])
            try:
                with engine.begin() as conn:
                    mapping_id = conn.execute(
                        t.TaskMapping.__table__.insert()
                        .values(
                            workgroup=workgroup,
                            project="web",
                            clickup_task_id=task["id"],
                            slack_channel_id=channel,
                            thread_ts=root["ts"],
                            title="Fuzzed",
                        )
                        .returning(t.TaskMapping.id)
                    ).scalar_one()
                    agent_id = conn.execute(
                        select(t.Agent.id).where(t.Agent.workgroup == workgroup, t.Agent.name == "bot")
                    ).scalar_one()
                    conn.execute(
                        t.TaskAgent.__table__.insert().values(task_mapping_id=mapping_id, agent_id=agent_id)
                    )
            finally:
                engine.dispose()
            yield AgentTarget(nexus, http, token, str(task["id"]))


nasty_text = st.sampled_from(["", "\u0000", "\ud800 lone", "é" * 50, "<!channel>", "x" * 40_001]) | st.text(
    max_size=60
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | nasty_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(nasty_text, inner, max_size=4),
    max_leaves=12,
)
bodies = st.one_of(
    st.fixed_dictionaries({"text": nasty_text}),
    st.fixed_dictionaries(
        {"state": st.sampled_from(["TODO", "IN_PROGRESS", "BLOCKED_ON_HUMAN", "DONE", "x"])}
    ),
    st.dictionaries(st.sampled_from(["text", "state", "other"]) | nasty_text, json_values, max_size=3),
    json_values,
)
# What an HTTP client can put in a header value: printable ASCII, no surrounding spaces.
header_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=300).map(
    str.strip
)


@_FUZZ
@given(
    use_tracked=st.booleans(),
    other_id=st.text(max_size=70),
    method=st.sampled_from(["POST", "PATCH", "GET"]),
    body=bodies,
    idempotency_key=st.none() | header_text,
)
def test_no_agent_request_gets_a_500(
    target: AgentTarget, use_tracked: bool, other_id: str, method: str, body: Any, idempotency_key: str | None
) -> None:
    task_id = target.task_id if use_tracked else other_id
    path = f"/v1/tasks/{quote(task_id, safe='')}"
    path += "/messages" if method == "POST" else ("/context" if method == "GET" else "")
    headers = {"Authorization": f"Bearer {target.token}", "Content-Type": "application/json"}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    content = None if method == "GET" else json.dumps(body).encode()
    answer = target.http.request(method, target.nexus.url + path, content=content, headers=headers)
    assert answer.status_code in ALLOWED, (
        f"{method} {path} {body!r} -> {answer.status_code} {answer.text[:300]}"
    )


@pytest.mark.parametrize("text", ["\ud800 lone surrogate", "NUL \u0000 inside", "<!channel> & <@U1>"])
def test_text_slack_or_clickup_cannot_carry_is_refused_or_posted_never_a_500(
    target: AgentTarget, text: str
) -> None:
    answer = target.http.post(
        f"{target.nexus.url}/v1/tasks/{target.task_id}/messages",
        content=json.dumps({"text": text}).encode(),
        headers={"Authorization": f"Bearer {target.token}", "Content-Type": "application/json"},
    )
    assert answer.status_code in {201, 422}, answer.text
