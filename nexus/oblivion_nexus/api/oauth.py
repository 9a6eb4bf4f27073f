"""``POST /oauth/token``: the OAuth2 client-credentials grant (RFC 6749 §4.4) agents log in with.

The body is parsed by hand rather than through FastAPI's form handling so that every problem gets
the RFC's error object (``invalid_request``, ``invalid_client``, ``unsupported_grant_type``: an
:class:`~oblivion_nexus.services.auth.tokens.OAuthError`, answered by the app's one handler) instead
of a 422, and so that nothing of the request, which carries the client secret, is echoed or logged.

Requests per client address and failures per client id are rate limited (``services.token_limits``);
past either limit the answer is 429 with ``Retry-After`` and no secret is hashed.
"""

from __future__ import annotations

import base64
import binascii
import logging
from urllib.parse import parse_qsl, unquote_plus

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from oblivion_nexus.api.deps import ResourcesDep
from oblivion_nexus.services.auth.token_limits import TokenRateLimiter, Verdict
from oblivion_nexus.services.auth.tokens import NO_STORE, ClientAuthError, OAuthError, issue_token_for_client
from oblivion_nexus.services.registry.schemas import column_length
from oblivion_nexus.stores import tables

logger = logging.getLogger(__name__)

router = APIRouter(tags=["oauth"])

_FORM = "application/x-www-form-urlencoded"
# A token request is a few hundred bytes; anything far larger is not one.
_MAX_BODY = 16 * 1024
_MAX_CLIENT_ID = column_length(tables.Agent.__table__.c.client_id)


class _BadRequest(OAuthError):
    def __init__(self, description: str) -> None:
        super().__init__("invalid_request", description)


class _TooManyRequests(OAuthError):
    status = 429

    def __init__(self, verdict: Verdict) -> None:
        retry = verdict.retry_after
        super().__init__(
            "too_many_requests", f"too many token requests; retry in {retry} s", retry_after=retry
        )


def _basic_credentials(header: str) -> list[tuple[str, str]] | None:
    """Candidate (client id, secret) pairs from ``Authorization: Basic``.

    RFC 6749 §2.3.1 has clients form-encode both before base64, but many clients (authlib among them)
    send them raw, so the raw pair is tried first and the form-decoded one second when it differs.
    """
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        text = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as e:
        raise _BadRequest("the Basic credentials are not valid base64 of `id:secret`") from e
    client_id, sep, secret = text.partition(":")
    if not sep:
        raise _BadRequest("the Basic credentials are not valid base64 of `id:secret`")
    raw = (client_id, secret)
    form_decoded = (unquote_plus(client_id), unquote_plus(secret))
    return [raw] if form_decoded == raw else [raw, form_decoded]


async def _form(request: Request) -> dict[str, str]:
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != _FORM:
        raise _BadRequest(f"the body must be {_FORM}")
    body = await request.body()
    if len(body) > _MAX_BODY:
        raise _BadRequest("the body is too large")
    try:
        pairs = parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError) as e:
        raise _BadRequest("the body is not a valid form") from e
    form: dict[str, str] = {}
    for key, value in pairs:
        if key in form:
            raise _BadRequest(f"the parameter {key!r} appears more than once")
        form[key] = value
    return form


@router.post("/oauth/token")
async def token(request: Request, resources: ResourcesDep) -> JSONResponse:
    """Exchange an agent's client credentials for a short-lived access token (a JWT)."""
    settings = resources.settings
    limiter = TokenRateLimiter(
        resources.redis,
        settings.redis.prefix,
        failures_per_client=settings.tokens.failures_per_client_per_minute,
        requests_per_address=settings.tokens.requests_per_address_per_minute,
    )
    verdict = await limiter.admit_address(request.client.host if request.client else "unknown")
    if not verdict.admitted:
        raise _TooManyRequests(verdict)
    form = await _form(request)
    basic = _basic_credentials(request.headers.get("authorization", ""))
    grant_type = form.get("grant_type")
    if not grant_type:
        raise _BadRequest("grant_type is required")
    if grant_type != "client_credentials":
        raise OAuthError("unsupported_grant_type", "only grant_type=client_credentials is supported")
    if basic is not None:
        if "client_secret" in form:
            raise _BadRequest("use either HTTP Basic or form fields for client authentication")
        if "client_id" in form and all(form["client_id"] != pair[0] for pair in basic):
            raise _BadRequest("client_id differs from the Basic credentials")
        candidates = basic
    elif "client_id" in form and "client_secret" in form:
        candidates = [(form["client_id"], form["client_secret"])]
    else:
        raise ClientAuthError("client authentication is required (HTTP Basic or client_id/client_secret)")
    failure = ClientAuthError("unknown client or wrong secret")
    # An id no agent can have (NUL, longer than the column) is refused before it reaches PostgreSQL,
    # which would fail on it; no agent exists under it, so refusing early reveals nothing.
    candidates = [
        (cid, secret) for cid, secret in candidates if 0 < len(cid) <= _MAX_CLIENT_ID and "\x00" not in cid
    ]
    if not candidates:
        raise failure
    for client_id, client_secret in candidates:
        verdict = await limiter.admit_client(client_id)
        if not verdict.admitted:
            raise _TooManyRequests(verdict)
        try:
            access_token, expires_in = await issue_token_for_client(
                resources.settings, resources.sessionmaker, client_id, client_secret
            )
            break
        except ClientAuthError as e:
            failure = e
    else:
        await limiter.failed(candidates[0][0])
        raise failure
    return JSONResponse(
        {"access_token": access_token, "token_type": "Bearer", "expires_in": expires_in}, headers=NO_STORE
    )
