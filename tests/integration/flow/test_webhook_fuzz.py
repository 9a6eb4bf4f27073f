"""Hypothesis against both webhook endpoints of a real ``oblivion nexus serve``: no input gets a 500.

Bodies are random bytes or random JSON (signed correctly or not, with random or fresh timestamps), so
examples reach every stage: size limit, signature check, parsing, queueing.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oblivion_nexus.services.taskflow.signatures import sign_clickup_body, sign_slack_body
from tests.support.nexus import nexus_process

ALLOWED = {200, 400, 401, 413}
# What an HTTP client can put in a header value: printable ASCII, no surrounding spaces.
header_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80).map(str.strip)
_FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=25,
)
clickup_like = st.fixed_dictionaries(
    {},
    optional={
        "event": st.sampled_from(["taskCreated", "taskUpdated", "taskDeleted", "x", ""]) | json_values,
        "task_id": st.text(max_size=12) | json_values,
        "webhook_id": st.text(max_size=40) | json_values,
        "history_items": st.lists(
            st.dictionaries(st.sampled_from(["id", "field", "after", "user"]), json_values)
        ),
    },
)
slack_like = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["event_callback", "url_verification", "app_rate_limited", "other"])
        | json_values,
        "event_id": st.text(max_size=20) | json_values,
        "challenge": st.text(max_size=30) | json_values,
        "event": st.dictionaries(
            st.sampled_from(["type", "channel", "ts", "thread_ts", "user", "text"]), json_values
        ),
    },
)


@dataclass
class Target:
    url: str
    slack_secret: str
    clickup_secret: str
    http: httpx.Client


@pytest.fixture
def target(nexus_env: dict[str, str], secret_registry: Any) -> Iterator[Target]:
    slack_secret, clickup_secret = secrets.token_hex(16), secrets.token_hex(16)
    secret_registry.add(slack_secret, clickup_secret)
    env = {
        **nexus_env,
        "OBLIVION_SLACK_SIGNING_SECRET": slack_secret,
        "OBLIVION_CLICKUP_WEBHOOK_SECRET": clickup_secret,
        "OBLIVION_WEBHOOK_MAX_BODY_BYTES": "4096",
    }
    with nexus_process(env) as proc, httpx.Client(timeout=10) as http:
        secret_registry.add_log_file(proc.log_path)
        yield Target(proc.url, slack_secret, clickup_secret, http)


def _body(raw: bytes, document: Any, use_json: bool) -> bytes:
    return json.dumps(document).encode() if use_json else raw


@_FUZZ
@given(
    raw=st.binary(max_size=6000),
    document=clickup_like | json_values,
    use_json=st.booleans(),
    signed=st.booleans(),
    signature=header_text,
)
def test_clickup_endpoint_never_answers_500(
    target: Target, raw: bytes, document: Any, use_json: bool, signed: bool, signature: str
) -> None:
    body = _body(raw, document, use_json)
    header = sign_clickup_body(body, target.clickup_secret) if signed else signature
    headers = {"X-Signature": header}
    response = target.http.post(target.url + "/webhooks/clickup", content=body, headers=headers)
    assert response.status_code in ALLOWED, (response.status_code, response.text)


@_FUZZ
@given(
    raw=st.binary(max_size=6000),
    document=slack_like | json_values,
    use_json=st.booleans(),
    signed=st.booleans(),
    skew=st.integers(min_value=-1000, max_value=1000) | st.just(0),
    timestamp=header_text,
    retry=st.none() | header_text,
)
def test_slack_endpoint_never_answers_500(
    target: Target,
    raw: bytes,
    document: Any,
    use_json: bool,
    signed: bool,
    skew: int,
    timestamp: str,
    retry: str | None,
) -> None:
    body = _body(raw, document, use_json)
    stamp = str(int(time.time()) + skew) if signed else timestamp
    headers = {"X-Slack-Request-Timestamp": stamp}
    if signed:
        headers["X-Slack-Signature"] = sign_slack_body(body, stamp, target.slack_secret)
    if retry is not None:
        headers["X-Slack-Retry-Num"] = retry
    response = target.http.post(target.url + "/webhooks/slack", content=body, headers=headers)
    assert response.status_code in ALLOWED, (response.status_code, response.text)
