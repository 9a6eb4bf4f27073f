"""Hypothesis against ``POST /oauth/token`` of a real ``oblivion nexus serve``: whatever form,
content type or ``Authorization`` header a caller sends, the answer is an RFC 6749 error or a token,
never a 500 (a client id holding NUL once reached PostgreSQL and failed there).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote_from_bytes

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.security.shared_nexus import security_env, security_nexus
from tests.support.nexus import NexusProcess

ALLOWED = {200, 400, 401, 413, 429}


@pytest.fixture(scope="module")
def nexus(postgres_url: str, redis_url: str, secret_registry: Any) -> Iterator[NexusProcess]:
    with security_nexus(security_env(postgres_url, redis_url, secret_registry), secret_registry) as proc:
        yield proc


raw_values = st.sampled_from(
    [b"", b"\x00", b"a\x00b", b"\xed\xa0\x80", b"x" * 300, b"client_credentials"]
) | st.binary(max_size=40)
forms = st.lists(
    st.tuples(
        st.sampled_from([b"grant_type", b"client_id", b"client_secret", b"scope"]) | raw_values, raw_values
    ),
    max_size=5,
).map(
    lambda pairs: b"&".join(
        quote_from_bytes(k).encode() + b"=" + quote_from_bytes(v).encode() for k, v in pairs
    )
)
basic = (
    st.none()
    | raw_values.map(lambda v: "Basic " + base64.b64encode(v + b":" + v).decode())
    | st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40).map(
        lambda v: v.strip()
    )
)


# Most requests ask for the one grant there is, so they get past the grant check to authentication.
granted_forms = forms.map(lambda rest: b"grant_type=client_credentials&" + rest)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=granted_forms | forms | st.binary(max_size=200), authorization=basic, form_type=st.booleans())
def test_no_token_request_gets_a_500(
    nexus: NexusProcess, body: bytes, authorization: str | None, form_type: bool
) -> None:
    headers = {"Content-Type": "application/x-www-form-urlencoded" if form_type else "application/json"}
    if authorization:
        headers["Authorization"] = authorization
    answer = httpx.post(nexus.url + "/oauth/token", content=body, headers=headers, timeout=10)
    assert answer.status_code in ALLOWED, (
        f"{body!r} {authorization!r} -> {answer.status_code} {answer.text[:200]}"
    )
    if answer.status_code != 413:
        assert "error" in answer.json() or "access_token" in answer.json()


@pytest.mark.parametrize(
    ("body", "authorization"),
    [
        (b"grant_type=client_credentials&client_id=a%00b&client_secret=xxxxxxxx", None),
        (b"grant_type=client_credentials", "Basic " + base64.b64encode(b"a\x00b:secret").decode()),
        (b"grant_type=client_credentials&client_id=" + b"c" * 300 + b"&client_secret=xxxxxxxx", None),
    ],
)
def test_a_client_id_no_agent_can_have_is_invalid_client_not_a_500(
    nexus: NexusProcess, body: bytes, authorization: str | None
) -> None:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if authorization:
        headers["Authorization"] = authorization
    answer = httpx.post(nexus.url + "/oauth/token", content=body, headers=headers, timeout=10)
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"] == "invalid_client"
