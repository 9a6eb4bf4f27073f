"""What a caller is told when a request runs into an error: the answer the error carries, written by
the app's one handler, and nothing of an error that carries none."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import oblivion_nexus
from oblivion_nexus.api.errors import install_error_handlers
from oblivion_nexus.errors import NexusError, ServiceError
from oblivion_nexus.integrations.errors import MalformedPayload
from oblivion_nexus.services.agent_tasks.actions import AgentMuted
from oblivion_nexus.services.auth.revocation import StandingUnavailable, TokenRevoked
from oblivion_nexus.services.auth.tokens import ClientAuthError, MissingToken, OAuthError, TokenError
from oblivion_nexus.services.registry.task_states import IllegalTransition, TaskState
from oblivion_nexus.services.safeguards.circuit_breaker import BreakerError
from oblivion_nexus.services.taskflow.errors import FlowError, MissingSetting
from oblivion_nexus.services.taskflow.ledger import LedgerError
from oblivion_nexus.services.taskflow.signatures import SignatureError
from oblivion_nexus.stores.inbox import InboxError


def _answer(error: Exception, path: str = "/fail", query: str = "") -> tuple[int, dict[str, str], object]:
    app = FastAPI()
    install_error_handlers(app)

    @app.get(path)
    async def fail(n: int = 0) -> None:
        raise error

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get(path + query)
    body = response.json() if response.headers.get("content-type") == "application/json" else response.text
    return response.status_code, dict(response.headers), body


def test_a_service_error_is_answered_with_its_status_and_detail() -> None:
    status, _, body = _answer(AgentMuted("agent is muted", retry_after=3))
    assert (status, body) == (429, {"detail": "agent is muted"})


@pytest.mark.parametrize(("seconds", "header"), [(2.2, "3"), (5, "5"), (0, "1"), (0.01, "1")])
def test_retry_after_is_whole_seconds_rounded_up_and_never_zero(seconds: float, header: str) -> None:
    _, headers, _ = _answer(ServiceError("muted", status=429, retry_after=seconds))
    assert headers["retry-after"] == header


def test_below_v1_llm_a_bad_token_is_answered_in_openais_shape_with_its_challenge() -> None:
    status, headers, body = _answer(TokenError("token expired"), "/v1/llm/chat/completions")
    assert status == 401
    assert headers["www-authenticate"] == 'Bearer realm="oblivion-agents", error="invalid_token"'
    assert body == {
        "error": {
            "message": "token expired",
            "type": "invalid_api_key",
            "code": "invalid_api_key",
            "param": None,
        }
    }
    status, _, body = _answer(ServiceError("agent is disabled", status=403), "/v1/llm/chat/completions")
    assert (status, body["error"]["type"], body["error"]["message"]) == (
        403,
        "permission_error",
        "agent is disabled",
    )  # type: ignore[index]


def test_below_v1_llm_a_malformed_parameter_is_a_422_in_openais_shape_naming_it() -> None:
    status, _, body = _answer(ServiceError("never raised: n is checked first"), "/v1/llm/models", "?n=x")
    assert status == 422
    assert body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert body["error"]["message"].startswith("query.n: ")  # type: ignore[index]


def test_a_bad_token_gets_the_rfc_6750_challenge_with_invalid_token() -> None:
    status, headers, body = _answer(TokenError("token expired"))
    assert status == 401
    assert headers["www-authenticate"] == 'Bearer realm="oblivion-agents", error="invalid_token"'
    assert body == {"detail": "token expired"}


def test_no_token_at_all_gets_a_challenge_without_an_error_code() -> None:
    status, headers, _ = _answer(MissingToken())
    assert status == 401
    assert headers["www-authenticate"] == 'Bearer realm="oblivion-agents"'


def test_a_revoked_token_is_401_and_a_forbidden_agent_403_without_a_challenge() -> None:
    stale = _answer(TokenRevoked("token was issued before a credential change", forbidden=False))
    assert stale[0] == 401
    assert 'error="invalid_token"' in stale[1]["www-authenticate"]
    gone = _answer(TokenRevoked("agent is disabled", forbidden=True))
    assert gone[0] == 403
    assert "www-authenticate" not in gone[1]


def test_an_unreachable_registry_asks_to_retry_without_saying_what_failed() -> None:
    status, headers, body = _answer(StandingUnavailable("could not look up agent id 7: connection refused"))
    assert (status, headers["retry-after"]) == (503, "5")
    assert body == {"detail": "Nexus cannot reach its registry"}


def test_a_task_flow_outage_is_a_retryable_503_that_names_no_internals() -> None:
    status, headers, body = _answer(FlowError("Redis at 10.0.0.7:6379 refused the connection"))
    assert (status, headers["retry-after"]) == (503, "5")
    assert body == {"detail": "temporarily unavailable"}


def test_a_mirror_ledger_failure_is_a_task_flow_outage() -> None:
    status, headers, body = _answer(LedgerError("claiming clickup/c1 failed: connection refused"))
    assert (status, headers["retry-after"], body) == (503, "5", {"detail": "temporarily unavailable"})


def test_a_missing_setting_is_named_to_the_caller() -> None:
    status, _, body = _answer(MissingSetting("OBLIVION_SLACK_BOT_TOKEN", "post in Slack"))
    assert status == 503
    assert body == {"detail": "OBLIVION_SLACK_BOT_TOKEN is not set; it is needed to post in Slack"}


def test_a_breaker_outage_does_not_echo_the_redis_error() -> None:
    status, _, body = _answer(BreakerError("cannot check the message limit of wg/a: Error 111 to 10.0.0.7"))
    assert status == 503
    assert "10.0.0.7" not in str(body)


def test_an_illegal_transition_lists_the_states_allowed() -> None:
    status, _, body = _answer(IllegalTransition(TaskState.DONE, TaskState.TODO))
    assert status == 409
    assert isinstance(body, dict)
    assert body["detail"]["state"] == "DONE"
    assert body["detail"]["allowed"] == []


def test_a_bad_signature_tells_the_reason_but_not_what_was_compared() -> None:
    error = SignatureError("slack", "mismatch", "X-Slack-Signature does not match the body")
    status, _, body = _answer(error)
    assert (status, body) == (401, {"detail": "signature refused (mismatch)"})


def test_a_malformed_payload_is_a_400_with_its_reason() -> None:
    status, _, body = _answer(MalformedPayload("slack", "body is not JSON"))
    assert (status, body) == (400, {"detail": "body is not JSON"})


def test_an_oauth_refusal_is_the_rfc_6749_error_object_and_never_cached() -> None:
    status, headers, body = _answer(OAuthError("unsupported_grant_type", "only client_credentials"))
    assert status == 400
    assert body == {"error": "unsupported_grant_type", "error_description": "only client_credentials"}
    assert headers["cache-control"] == "no-store"


def test_a_failed_client_authentication_gets_the_basic_challenge() -> None:
    status, headers, body = _answer(ClientAuthError("unknown client or wrong secret"))
    assert status == 401
    assert headers["www-authenticate"].startswith("Basic")
    assert headers["cache-control"] == "no-store"
    assert isinstance(body, dict)
    assert body["error"] == "invalid_client"


def test_an_error_without_a_designed_answer_is_a_bare_500_that_shows_nothing() -> None:
    status, _, body = _answer(InboxError("inbox script failed on wg:secret-agent"))
    assert status == 500
    assert "secret-agent" not in str(body)


def test_a_service_error_left_at_500_is_reported_as_a_fault() -> None:
    status, _, body = _answer(ServiceError("a bug that names wg:secret-agent"))
    assert status == 500
    assert "secret-agent" not in str(body)


def _modules(package: str) -> Iterator[str]:
    root = importlib.import_module(package)
    for info in pkgutil.walk_packages(root.__path__, f"{package}."):
        if ".migrations." not in info.name:
            yield info.name


def _subclasses(cls: type[NexusError]) -> Iterator[type[NexusError]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_every_error_that_answers_requests_answers_with_an_error_status() -> None:
    for name in _modules(oblivion_nexus.__name__):
        importlib.import_module(name)
    answering = [cls for cls in _subclasses(ServiceError) if cls.__module__.startswith("oblivion_nexus.")]
    assert len(answering) > 20
    for cls in answering:
        assert 400 <= cls.status <= 599, cls
