"""The operator as the integration tests run it: in its own thread against the real control plane
(:func:`start_operator`), the registry API it writes to as a test reads it (:class:`NexusAdmin`), and
the ``Ready`` condition tests wait for.

The fixtures of ``tests/integration/operator`` build the control plane, the Nexus process and the
operator's settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import httpx
import kopf

from oblivion_operator.reconcile import OperatorContext
from oblivion_operator.runner import build_registry, configure_kopf
from oblivion_operator.settings import OperatorSettings
from tests.controlplane import Cluster
from tests.controlplane.operator_runner import OperatorRun, run_operator

T = TypeVar("T")
EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


class NexusAdmin:
    """The registry API as a test reads it, to assert what the operator registered."""

    def __init__(self, nexus: Any) -> None:
        self.client = httpx.Client(
            base_url=nexus.url + "/internal/v1/", headers=nexus.admin_headers(), timeout=10
        )

    def get(self, path: str) -> dict[str, Any] | None:
        response = self.client.get(path)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data


class RunningOperator:
    """A started operator: its kopf run, its context, and a way to run coroutines on its loop."""

    def __init__(self, run: OperatorRun, ctx: OperatorContext, loop: asyncio.AbstractEventLoop) -> None:
        self.run = run
        self.ctx = ctx
        self.loop = loop

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        """Run ``coro`` in the operator's event loop (the embedded Qdrant store lives there)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)


@contextlib.contextmanager
def start_operator(cluster: Cluster, settings: OperatorSettings) -> Iterator[RunningOperator]:
    registry, ctx = build_registry(settings, kube_connection=cluster.operator_connection())
    loops: list[asyncio.AbstractEventLoop] = []

    @kopf.on.startup(id="test-grab-loop", registry=registry)
    async def grab_loop(**_: Any) -> None:
        loops.append(asyncio.get_running_loop())

    with run_operator(cluster, registry, configure=lambda s: configure_kopf(s, standalone=True)) as run:
        yield RunningOperator(run, ctx, loops[0])


def ready(obj: dict[str, Any]) -> bool:
    for condition in (obj.get("status") or {}).get("conditions") or ():
        if condition.get("type") == "Ready":
            return bool(condition.get("status") == "True")
    return False


def ready_condition(obj: dict[str, Any]) -> dict[str, Any] | None:
    for condition in (obj.get("status") or {}).get("conditions") or ():
        if condition.get("type") == "Ready":
            return dict(condition)
    return None


def not_ready_because(reason: str) -> Any:
    def check(obj: dict[str, Any]) -> bool:
        condition = ready_condition(obj)
        return condition is not None and condition["status"] == "False" and condition["reason"] == reason

    return check
