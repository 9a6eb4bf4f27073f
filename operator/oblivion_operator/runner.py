"""Assembling and running the operator: kopf settings, the handler registry, peering, liveness.

``oblivion operator`` and the tests both come through ``run``, so what is tested is what ships.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Collection

import kopf

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
) -> None:
    """Run kopf with every handler: cluster-wide unless ``namespaces`` narrows it."""
    if registry is None:
        registry, _ = build_registry(settings)
    await kopf.operator(
        registry=registry,
        settings=configure_kopf(kopf.OperatorSettings(), standalone=standalone),
        clusterwide=not namespaces,
        namespaces=list(namespaces),
        standalone=standalone,
        liveness_endpoint=liveness_endpoint,
        stop_flag=stop_flag,
        ready_flag=ready_flag,
    )
