"""kopf handlers: the thin layer turning watch events into reconcile flows and flow outcomes into status.

Handlers are registered by ``register()`` into an explicit registry, because timer intervals come from
settings that only exist at start-up. Each kind has one reconcile flow run on create, update, resume
and by a drift timer (serialised per object), and a cleanup flow behind the finalizer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar, cast

import kopf

from oblivion_operator import reconcile
from oblivion_operator.clients.kube import resource_path
from oblivion_operator.clients.nexus import PARENT_NOT_REGISTERED
from oblivion_operator.errors import ExternalError
from oblivion_operator.models import GROUP, VERSION, InvalidSpec
from oblivion_operator.reconcile import Blocked, OperatorContext
from oblivion_operator.status import ready_status

logger = logging.getLogger(__name__)
T = TypeVar("T")

ReconcileFn = Callable[[OperatorContext, Any, Any], Awaitable[dict[str, Any]]]
DeleteFn = Callable[[OperatorContext, Any, Any], Awaitable[None]]
MAX_BACKOFF = 300.0  # seconds; a failing dependency is retried at least every five minutes

READY_MESSAGES = {
    # the Slack channel has its own condition (SlackChannel): Slack is optional
    "Workgroup": "namespace, network policies, collection and tenant registration in place",
    "Project": "project mapping is in place",
    "Agent": "credentials, Deployment, NetworkPolicy and Nexus registration are in place",
    "ToolCredential": "the referenced Secret is synced to Nexus",
}
KINDS: tuple[tuple[str, str, ReconcileFn, DeleteFn], ...] = (
    ("Workgroup", "workgroups", reconcile.reconcile_workgroup, reconcile.delete_workgroup),
    ("Project", "projects", reconcile.reconcile_project, reconcile.delete_project),
    ("Agent", "agents", reconcile.reconcile_agent, reconcile.delete_agent),
    ("ToolCredential", "toolcredentials", reconcile.reconcile_credential, reconcile.delete_credential),
)
# status fields that become false when a reconcile fails
FAILED_FIELDS: dict[str, dict[str, Any]] = {"ToolCredential": {"synced": False}}


def _backoff(ctx: OperatorContext, retry: int) -> float:
    """Exponential backoff with ±20 % jitter, so resources that failed together do not retry together."""
    delay = min(ctx.settings.retry_delay_seconds * 2 ** min(retry, 10), MAX_BACKOFF)
    return float(delay * random.uniform(0.8, 1.2))


async def _unless_stopped(stopped: kopf.DaemonStopped, work: Awaitable[T]) -> T | None:
    """``work``'s result, or None when kopf stops the timer first (work is cancelled).

    kopf never cancels timers on exit; left running they would use clients already closed.
    """
    task = asyncio.ensure_future(work)
    stop = asyncio.ensure_future(_wait_stopped(stopped))
    try:
        await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    return None if task.cancelled() else task.result()


async def _wait_stopped(stopped: kopf.DaemonStopped) -> None:
    await stopped.wait()


def _changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in new.items() if old.get(k) != v}


async def run_reconcile(
    ctx: OperatorContext, kind: str, flow: ReconcileFn, body: Any, logger: Any, retry: int
) -> tuple[dict[str, Any], kopf.TemporaryError | kopf.PermanentError | None]:
    """Run ``flow`` under the object's lock; return the status fields that changed and the error to raise.

    The error is kopf's: temporary for what can heal (with backoff, or exactly Slack's ``Retry-After``),
    permanent for what cannot (an invalid spec), so kopf neither gives up early nor storms.
    """
    meta = body["metadata"]
    old = dict(body.get("status") or {})
    generation = meta.get("generation")
    backoff = _backoff(ctx, retry)
    error: kopf.TemporaryError | kopf.PermanentError
    async with ctx.lock(kind, meta.get("namespace"), meta["name"]):
        try:
            fields = await flow(ctx, body, logger)
        except InvalidSpec as e:
            status = ready_status(old, False, "InvalidSpec", str(e), generation, FAILED_FIELDS.get(kind))
            error = kopf.PermanentError(f"invalid spec: {e}")
        except Blocked as e:
            status = ready_status(old, False, e.reason, e.message, generation, FAILED_FIELDS.get(kind))
            error = kopf.TemporaryError(e.message, delay=backoff)
        except ExternalError as e:
            if e.code == PARENT_NOT_REGISTERED:
                reason = "WorkgroupNotRegistered"
            elif e.status == 429:
                reason = f"{e.system}RateLimited"
            elif e.status == 409:
                reason = f"{e.system}Conflict"
            else:
                reason = f"{e.system}Unavailable" if e.retryable else f"{e.system}Error"
            status = ready_status(old, False, reason, str(e), generation, FAILED_FIELDS.get(kind))
            if e.retry_after is not None:
                error = kopf.TemporaryError(f"{e}; retrying after {e.retry_after:g}s", delay=e.retry_after)
            elif e.retryable:
                error = kopf.TemporaryError(str(e), delay=backoff)
            else:
                error = kopf.PermanentError(str(e))
        else:
            ready = ready_status(old, True, "Reconciled", READY_MESSAGES[kind], generation, fields)
            return _changed(old, ready), None
    return _changed(old, status), error


async def _reconcile_into_patch(
    ctx: OperatorContext,
    kind: str,
    flow: ReconcileFn,
    body: Any,
    patch: kopf.Patch,
    logger: Any,
    retry: int,
    *,
    timer: bool = False,
) -> None:
    changed, error = await run_reconcile(ctx, kind, flow, body, logger, retry)
    patch.status.update(changed)  # kopf writes the patch whether or not the handler raises
    if error is not None:
        if timer:
            if isinstance(error, kopf.TemporaryError):  # a permanent one is already in the status
                logger.warning(f"Drift check failed: {error}")  # the next tick retries
        else:
            raise error


def _register_kind(
    registry: kopf.OperatorRegistry,
    ctx: OperatorContext,
    kind: str,
    plural: str,
    flow: ReconcileFn,
    cleanup: DeleteFn,
) -> None:
    ident = kind.lower()

    @kopf.on.resume(GROUP, VERSION, plural, id=f"{ident}-reconcile", registry=registry)
    @kopf.on.create(GROUP, VERSION, plural, id=f"{ident}-reconcile", registry=registry)
    @kopf.on.update(GROUP, VERSION, plural, id=f"{ident}-reconcile", registry=registry)
    async def reconcile_handler(
        body: kopf.Body, patch: kopf.Patch, logger: kopf.Logger, retry: int, **_: Any
    ) -> None:
        await _reconcile_into_patch(ctx, kind, flow, body, patch, logger, retry)

    @kopf.timer(
        GROUP,
        VERSION,
        plural,
        id=f"{ident}-drift",
        registry=registry,
        interval=ctx.settings.drift_interval_seconds,
        # only objects left alone that long: a busy object is being reconciled by its change handler
        idle=ctx.settings.drift_interval_seconds,
    )
    async def drift_timer(body: kopf.Body, patch: kopf.Patch, logger: kopf.Logger, **kwargs: Any) -> None:
        stopped: kopf.DaemonStopped = kwargs["stopped"]
        meta = body["metadata"]
        if ctx.lock(kind, meta.get("namespace"), meta["name"]).locked():
            return  # being reconciled right now
        if (body.get("status") or {}).get("observedGeneration") != meta.get("generation"):
            return  # the change handler has not finished this generation yet: it is in charge
        await _unless_stopped(
            stopped, _reconcile_into_patch(ctx, kind, flow, body, patch, logger, 0, timer=True)
        )

    @kopf.on.delete(GROUP, VERSION, plural, id=f"{ident}-cleanup", registry=registry)
    async def cleanup_handler(body: kopf.Body, logger: kopf.Logger, retry: int, **_: Any) -> None:
        meta = body["metadata"]
        async with ctx.lock(kind, meta.get("namespace"), meta["name"]):
            try:
                await cleanup(ctx, body, logger)
            except ExternalError as e:
                delay = e.retry_after or _backoff(ctx, retry)
                raise kopf.TemporaryError(f"cleanup failed: {e}", delay=delay) from None
        ctx.forget(kind, meta.get("namespace"), meta["name"])


def register(registry: kopf.OperatorRegistry, ctx: OperatorContext, *, login: bool = True) -> None:
    """Register every handler of the operator into ``registry``, bound to ``ctx``."""
    kopf_settings: list[kopf.OperatorSettings] = []

    @kopf.on.startup(id="open-clients", registry=registry)
    async def open_clients(settings: kopf.OperatorSettings, **_: Any) -> None:
        kopf_settings.append(settings)  # for loggers of objects other than the handled one
        await ctx.open()

    @kopf.on.cleanup(id="close-clients", registry=registry)
    async def close_clients(**_: Any) -> None:
        await ctx.close()

    if login:

        @kopf.on.login(id="kubeconfig", registry=registry)
        def kubeconfig_login(**kwargs: Any) -> kopf.ConnectionInfo | None:
            info = kopf.login_via_client(**kwargs)
            if info is not None:
                ctx.connect_kube(info)
            return info

    for kind, plural, flow, cleanup in KINDS:
        _register_kind(registry, ctx, kind, plural, flow, cleanup)

    @kopf.timer(
        GROUP,
        VERSION,
        "agents",
        id="agent-presence",
        registry=registry,
        interval=ctx.settings.presence_interval_seconds,
        # a new Agent has no pod yet: its first presence check waits one interval
        initial_delay=ctx.settings.presence_interval_seconds,
    )
    async def agent_presence(body: kopf.Body, patch: kopf.Patch, logger: kopf.Logger, **kwargs: Any) -> None:
        stopped: kopf.DaemonStopped = kwargs["stopped"]
        try:
            fields = await _unless_stopped(stopped, reconcile.refresh_agent_presence(ctx, body))
        except ExternalError as e:
            logger.debug(f"Presence refresh failed: {e}")
            return
        if fields is not None:
            patch.status.update(_changed(dict(body.get("status") or {}), fields))

    @kopf.index(GROUP, VERSION, "toolcredentials", id="credential_secrets", registry=registry)
    def credential_secrets(
        namespace: str | None, name: str, spec: kopf.Spec, **_: Any
    ) -> dict[Any, str] | None:
        secret = (spec.get("secretRef") or {}).get("name")
        return {(namespace, secret): name} if secret else None

    def referenced(namespace: str | None, name: str, **kwargs: Any) -> bool:
        index: kopf.Index[Any, str] = kwargs["credential_secrets"]
        return (namespace, name) in index

    @kopf.on.event("", "v1", "secrets", id="credential-secret-changed", registry=registry, when=referenced)
    async def credential_secret_changed(namespace: str | None, name: str, type: str, **kwargs: Any) -> None:
        credential_secrets: kopf.Index[Any, str] = kwargs["credential_secrets"]
        settings = kopf_settings[-1] if kopf_settings else kopf.OperatorSettings()
        if not type or namespace is None:
            return  # the initial listing: each ToolCredential syncs itself on resume
        for credential in list(credential_secrets.get((namespace, name), [])):
            await resync_credential(ctx, namespace, credential, settings)


async def resync_credential(
    ctx: OperatorContext, namespace: str, name: str, settings: kopf.OperatorSettings
) -> None:
    """Re-sync one ToolCredential after its Secret changed, writing its status directly."""
    body = await ctx.kube.get(resource_path(f"{GROUP}/{VERSION}", "ToolCredential", namespace, name))
    if body is None or body["metadata"].get("deletionTimestamp"):
        return
    object_logger = kopf.ObjectLogger(body=kopf.Body(cast(kopf.RawBody, body)), settings=settings)
    changed, error = await run_reconcile(
        ctx, "ToolCredential", reconcile.reconcile_credential, body, object_logger, 0
    )
    if error is not None:
        object_logger.warning(f"Re-sync after the Secret changed failed: {error}")
    if changed:  # a failed write here is repaired by the credential's drift timer
        await ctx.kube.patch_status(f"{GROUP}/{VERSION}", "ToolCredential", namespace, name, changed)
