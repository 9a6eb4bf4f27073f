"""A tool call with an ``Idempotency-Key`` runs at most once: a retry gets the first call's answer.

An agent that lost the answer to ``POST /v1/tools/invoke`` (a dropped connection, a timeout) cannot
know whether the issue was created or the pull request merged; it retries with the same key and gets
what the first call answered, and the action never runs twice. Keys are the agent's own
(:func:`..idempotency.idempotency_scope`), kept in Redis like those of ``/v1/tasks`` messages, for
``OBLIVION_IDEMPOTENCY_TTL_SECONDS``; a key names one request, so the same key with another body
(or on another route) is refused with 422, as the IETF Idempotency-Key draft and Stripe do — the
request is well-formed but cannot be processed, which is not a conflict with the server's state. A
duplicate arriving while the first still runs is refused with 409 and ``Retry-After`` (the draft's
answer): the first holds the key, renewing its lease however long the upstream takes.

Which answers are kept: those given once the action may have run — 200, 202 (the same pending
approval, not a second one), 502 (the upstream failed, perhaps after acting) and 500 (Nexus failed,
perhaps after the upstream acted). A call refused before anything ran (403, 404, 422, 429) frees its
key, so the retry does the work once allowed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from oblivion_nexus.resources import Resources
from oblivion_nexus.services.auth.tokens import AgentIdentity
from oblivion_nexus.services.safeguards.idempotency import (
    CLAIM_LEASE_SECONDS,
    IdempotencyStore,
    StoredAnswer,
    fingerprint,
    idempotency_scope,
)
from oblivion_nexus.services.tools.gateway import InvokeOutcome, InvokeRequest, ToolError, ToolGateway

logger = logging.getLogger(__name__)

# Answers from a call that reached (or may have reached) the upstream: final for its key.
_FINAL_ERRORS = frozenset({502})
_UNKNOWN_OUTCOME = (
    "Nexus failed while handling this call and cannot tell whether it ran (the audit trail can);"
    " use a new Idempotency-Key to try again"
)


def request_fingerprint(request: InvokeRequest) -> str:
    return fingerprint(
        {
            "route": "tools.invoke",
            "tool": request.tool,
            "action": request.action,
            "args": dict(request.args),
            "credential": request.credential,
            "taskId": request.task_id,
        }
    )


async def invoke_once(
    gateway: ToolGateway,
    resources: Resources,
    identity: AgentIdentity,
    request: InvokeRequest,
    key: str | None,
) -> InvokeOutcome:
    """``gateway.invoke``, at most once per ``key`` of this agent (no key: every time)."""
    if key is None:
        return await gateway.invoke(identity, request)
    settings = resources.settings
    store = IdempotencyStore(
        resources.redis, settings.redis.prefix, ttl_seconds=settings.gateway.idempotency_ttl_seconds
    )
    scope = idempotency_scope(identity.workgroup, identity.agent_id)
    request_hash = request_fingerprint(request)
    earlier = await store.claim(scope, key, request_hash)
    if earlier is not None:
        logger.info("replaying the answer to %s's %s %s", identity.agent, request.tool, request.action)
        if earlier.status >= 400:
            raise ToolError(earlier.status, earlier.body.get("detail"))
        return InvokeOutcome(earlier.status, earlier.body)
    keeper = asyncio.create_task(_keep_claimed(store, scope, key))
    try:
        outcome = await gateway.invoke(identity, request)
    except ToolError as e:
        await _stop(keeper)
        if e.status in _FINAL_ERRORS:
            await store.store(scope, key, request_hash, StoredAnswer(e.status, {"detail": e.detail}))
        else:
            await store.release(scope, key)
        raise
    except BaseException:
        # Nexus itself failed (its database, a shutdown), perhaps after the upstream acted: the key
        # keeps this answer rather than let a retry act again; the audit trail says what ran.
        await _stop(keeper)
        answer = StoredAnswer(500, {"detail": _UNKNOWN_OUTCOME})
        await asyncio.shield(store.store(scope, key, request_hash, answer))
        raise
    await _stop(keeper)
    await store.store(scope, key, request_hash, StoredAnswer(outcome.status, outcome.body))
    return outcome


async def _keep_claimed(store: IdempotencyStore, scope: str, key: str) -> None:
    while True:
        await asyncio.sleep(CLAIM_LEASE_SECONDS / 3)
        await store.keep(scope, key)


async def _stop(keeper: asyncio.Task[None]) -> None:
    keeper.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await keeper
