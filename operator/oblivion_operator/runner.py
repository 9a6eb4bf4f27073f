"""Assembling and running the operator: kopf settings, the handler registry, peering, liveness.

``oblivion operator`` and the tests both come through ``run``, so what is tested is what ships.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Collection

import kopf

from oblivion_operator.clients.kube import KubeClient
from oblivion_operator.errors import ExternalError, OperatorError
from oblivion_operator.handlers import register
from oblivion_operator.models import FINALIZER
from oblivion_operator.reconcile import OperatorContext
from oblivion_operator.settings import OperatorSettings

logger = logging.getLogger(__name__)
PEERING_NAME = "oblivion"
STORAGE_PREFIX = "operator.oblivion.dev"  # kopf's bookkeeping annotations; not oblivion.dev/, which users set


class QuietTimers(logging.Filter):
    """Drops kopf's "Timer '…' succeeded." lines: drift and presence timers tick for every object,
    and each line would otherwise become a Kubernetes Event (500 Agents: ~17 Events a second)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (message.startswith("Timer '") and message.endswith("' succeeded."))


def configure_kopf(settings: kopf.OperatorSettings, *, standalone: bool) -> kopf.OperatorSettings:
    """Our finalizer, bookkeeping annotations, Events and peering on kopf's ``settings``."""
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=STORAGE_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=STORAGE_PREFIX, key="last-handled-configuration"
    )
    settings.posting.loggers = True  # what the operator logs about an object becomes a Kubernetes Event
    settings.posting.level = logging.INFO
    settings.peering.name = PEERING_NAME
    settings.peering.standalone = standalone
    settings.peering.mandatory = not standalone
    settings.execution.max_workers = 8
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    objects_logger = logging.getLogger("kopf.objects")
    if not any(isinstance(f, QuietTimers) for f in objects_logger.filters):
        objects_logger.addFilter(QuietTimers())
    return settings


class PeeringMissing(OperatorError):
    """Peering is on but kopf's peering CRD or the peering object is missing; the message says what to
    apply. kopf itself would wait for them silently, reconciling nothing."""


_STANDALONE_HINT = "or run `oblivion operator --standalone` (safe only with a single replica)"


async def check_peering(info: kopf.ConnectionInfo, namespaces: Collection[str] = ()) -> None:
    """Raise :class:`PeeringMissing` unless the peering CRD and the peering object ``oblivion`` exist
    (cluster-scoped when watching every namespace, else one in each watched namespace)."""
    plural = "kopfpeerings" if namespaces else "clusterkopfpeerings"
    kube = KubeClient(info)
    try:
        # Discovery is readable by every authenticated identity, unlike the CRD objects themselves.
        group = await kube.get("/apis/kopf.dev/v1")
        served = {r.get("name") for r in (group or {}).get("resources", [])}
        if plural not in served:
            raise PeeringMissing(
                f"kopf's peering CRD {plural}.kopf.dev is not installed, so this operator would wait "
                "for it and reconcile nothing: install it (the Helm chart does with operator.replicas "
                f"> 1; `helm template` shows it) {_STANDALONE_HINT}"
            )
        if namespaces:
            paths = [f"/apis/kopf.dev/v1/namespaces/{ns}/kopfpeerings/{PEERING_NAME}" for ns in namespaces]
        else:
            paths = [f"/apis/kopf.dev/v1/clusterkopfpeerings/{PEERING_NAME}"]
        for path in paths:
            if await kube.get(path) is None:
                raise PeeringMissing(
                    f"the peering object {path.removeprefix('/apis/kopf.dev/v1/')} does not exist: "
                    f"apply operator/deploy/peering.yaml {_STANDALONE_HINT}"
                )
    except ExternalError as e:
        # Not knowing is no reason to refuse: kopf will report what it meets.
        logger.warning("could not check kopf peering: %s", e)
    finally:
        await kube.aclose()


def build_registry(
    settings: OperatorSettings, *, kube_connection: kopf.ConnectionInfo | None = None
) -> tuple[kopf.OperatorRegistry, OperatorContext]:
    """A registry with every handler; with ``kube_connection`` the caller logs kopf in (tests do)."""
    registry = kopf.OperatorRegistry()
    ctx = OperatorContext(settings, kube_connection=kube_connection)
    register(registry, ctx, login=kube_connection is None)
    return registry, ctx


async def run(
    settings: OperatorSettings,
    *,
    namespaces: Collection[str] = (),
    standalone: bool = False,
    liveness_endpoint: str | None = None,
    stop_flag: asyncio.Event | threading.Event | None = None,
    ready_flag: asyncio.Event | threading.Event | None = None,
    registry: kopf.OperatorRegistry | None = None,
    kube_connection: kopf.ConnectionInfo | None = None,
) -> None:
    """Run kopf with every handler: cluster-wide unless ``namespaces`` narrows it.

    With peering (not ``standalone``) the peering CRD and object are checked first, and
    :class:`PeeringMissing` says what is missing instead of an operator that silently does nothing.
    """
    kopf_settings = configure_kopf(kopf.OperatorSettings(), standalone=standalone)
    if not standalone:
        info = kube_connection or kopf.login_via_client(logger=logger, settings=kopf_settings)
        if info is None:
            logger.warning("could not check kopf peering: no Kubernetes credentials found yet")
        else:
            await check_peering(info, namespaces)
    if registry is None:
        registry, _ = build_registry(settings)
    await kopf.operator(
        registry=registry,
        settings=kopf_settings,
        clusterwide=not namespaces,
        namespaces=list(namespaces),
        standalone=standalone,
        liveness_endpoint=liveness_endpoint,
        stop_flag=stop_flag,
        ready_flag=ready_flag,
    )
