"""Running a real kopf operator against the test control plane, in its own thread and event loop.

kopf cancels every task of its loop when it stops, so it must never share the test's loop. The
operator logs in as its own ServiceAccount through a login handler added to its registry (so no global
kubeconfig is read), runs standalone unless peering is asked for, and is stopped gracefully through
its stop flag or killed abruptly (to test restarts mid-reconcile).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import importlib
import logging
import threading
import time
import types
import weakref
from collections.abc import Callable, Collection, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import kopf

from tests.controlplane.cluster import Cluster

logger = logging.getLogger(__name__)

T = TypeVar("T")

_LOGIN_PRIORITY = 1000  # above kopf's own piggy-backing logins, so the test's identity always wins


@dataclass
class _Login:
    connection: kopf.ConnectionInfo


_LOGINS: weakref.WeakKeyDictionary[kopf.OperatorRegistry, _Login] = weakref.WeakKeyDictionary()


def _log_in(registry: kopf.OperatorRegistry, connection: kopf.ConnectionInfo) -> None:
    """Point the registry's logins at `connection`; a registry reused across tests follows the newest."""
    connection = dataclasses.replace(connection, priority=_LOGIN_PRIORITY)
    login_of = _LOGINS.get(registry)
    if login_of is not None:
        login_of.connection = connection
        return
    login_of = _LOGINS[registry] = _Login(connection)

    @kopf.on.login(registry=registry, id="test-controlplane-login")
    def login(**_: Any) -> kopf.ConnectionInfo:
        return login_of.connection


def load_registry(handlers: types.ModuleType | str | kopf.OperatorRegistry) -> kopf.OperatorRegistry:
    """A registry holding the handlers of a module (imported or reloaded into a fresh registry)."""
    if isinstance(handlers, kopf.OperatorRegistry):
        return handlers
    registry = kopf.OperatorRegistry()
    previous = kopf.get_default_registry()
    kopf.set_default_registry(registry)
    try:
        if isinstance(handlers, str):
            module = importlib.import_module(handlers)
            if not _registered_anything(registry):
                importlib.reload(module)
        else:
            importlib.reload(handlers)
    finally:
        kopf.set_default_registry(previous)
    return registry


def _registered_anything(registry: kopf.OperatorRegistry) -> bool:
    return any(True for _ in registry._changing.get_all_handlers()) or any(
        True for _ in registry._activities.get_all_handlers()
    )


def fast_settings() -> kopf.OperatorSettings:
    """kopf settings tuned for tests: quick reconnects, quick exit; callers may adjust further."""
    settings = kopf.OperatorSettings()
    settings.watching.reconnect_backoff = 0.1
    settings.queueing.idle_timeout = 0.5
    settings.queueing.exit_timeout = 1.0
    settings.process.ultimate_exiting_timeout = 5.0
    settings.networking.error_backoffs = [0.1, 0.2, 0.5, 1.0]
    return settings


# A stopped operator's TLS connections need a round trip to the local API server to close; two
# seconds leaves room for a loaded machine.
_CLOSING_DEADLINE_SECONDS = 2.0


def _open_transports(loop: asyncio.AbstractEventLoop) -> list[asyncio.Transport]:
    """The loop's socket transports whose socket is still open (TLS runs on top of these)."""
    return [
        obj
        for obj in gc.get_objects()
        if isinstance(obj, asyncio.Transport)
        and getattr(obj, "_loop", None) is loop
        and getattr(obj, "_sock", None) is not None
    ]


def _end_connections(loop: asyncio.AbstractEventLoop) -> None:
    """Close what the process's exit would close, before the operator's loop closes.

    In a cluster the operator is a process, and its exit closes every socket. Here it is a thread of
    the test session, and the API server keeps connections alive: a connection still closing (a TLS
    shutdown needs the loop) or left open when kopf stops would outlive the loop and be collected
    later, in another test, with a ResourceWarning. Connections get a moment to finish closing, the
    rest are aborted.
    """
    deadline = time.monotonic() + _CLOSING_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if not any(t.is_closing() for t in _open_transports(loop)):
            break
        loop.run_until_complete(asyncio.sleep(0.02))
    leftovers = _open_transports(loop)
    for transport in leftovers:
        transport.abort()
    if leftovers:
        logger.info("Aborted %d connection(s) the stopped operator left open", len(leftovers))
        loop.run_until_complete(asyncio.sleep(0))  # let the aborts run their connection_lost


class OperatorRun:
    """One kopf operator running in a background thread until stopped or killed."""

    def __init__(
        self,
        registry: kopf.OperatorRegistry,
        settings: kopf.OperatorSettings,
        *,
        namespaces: Collection[str],
        clusterwide: bool,
        peering: str | None,
        memo: object | None,
    ) -> None:
        self.registry = registry
        self.settings = settings
        self.error: BaseException | None = None
        self._kwargs: dict[str, Any] = {
            "registry": registry,
            "settings": settings,
            "clusterwide": clusterwide,
            "namespaces": list(namespaces),
            "standalone": peering is None,
            "peering_name": peering,
            "memo": memo,
        }
        self._stop_flag = threading.Event()
        self._ready_flag = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=self._run, name=f"kopf-operator-{id(self):x}", daemon=True)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The operator's event loop (where its clients live), once started."""
        if self._loop is None:
            raise RuntimeError("the operator is not started")
        return self._loop

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        """Run a coroutine on the operator's loop from the test thread and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self, timeout: float) -> None:
        self._thread.start()
        ready = self._ready_flag.wait(timeout)
        if self.error is not None:
            raise RuntimeError(f"the operator failed while starting: {self.error!r}") from self.error
        if not ready:
            self.kill()
            raise RuntimeError(f"the operator did not report ready within {timeout} s")

    def stop(self, timeout: float = 30.0) -> None:
        """Ask kopf to exit gracefully (as on SIGTERM) and wait for its thread."""
        self._stop_flag.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            self.kill()

    def kill(self, timeout: float = 10.0) -> None:
        """Cancel the operator at once, mid-handler if need be (as a crashed or OOM-killed pod)."""
        if self._loop is not None and self._task is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: already dead
                self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(timeout)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            coro = kopf.operator(stop_flag=self._stop_flag, ready_flag=self._ready_flag, **self._kwargs)
            self._task = loop.create_task(coro)
            loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            logger.info("The operator was killed")
        except BaseException as e:
            self.error = e
            logger.exception("The operator failed")
        finally:
            for task in asyncio.all_tasks(loop):
                task.cancel()
            with contextlib.suppress(BaseException):
                loop.run_until_complete(asyncio.gather(*asyncio.all_tasks(loop), return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            _end_connections(loop)
            loop.close()
            self._ready_flag.set()  # unblock a start() still waiting


@contextlib.contextmanager
def run_operator(
    cluster: Cluster,
    handlers: types.ModuleType | str | kopf.OperatorRegistry,
    *,
    namespaces: Collection[str] = (),
    clusterwide: bool | None = None,
    settings: kopf.OperatorSettings | None = None,
    configure: Callable[[kopf.OperatorSettings], None] | None = None,
    peering: str | None = None,
    memo: object | None = None,
    startup_timeout: float = 30.0,
) -> Iterator[OperatorRun]:
    """Run kopf with `handlers` (a module, its name, or a registry) as the operator's ServiceAccount.

    Cluster-wide unless `namespaces` are given. Standalone unless `peering` names a peering object
    (kopf's peering CRDs are installed with the project's). On exit the operator is stopped
    gracefully; an error that crashed it is raised.
    """
    registry = load_registry(handlers)
    _log_in(registry, cluster.operator_connection())
    settings = settings or fast_settings()
    if configure is not None:
        configure(settings)
    run = OperatorRun(
        registry,
        settings,
        namespaces=namespaces,
        clusterwide=not namespaces if clusterwide is None else clusterwide,
        peering=peering,
        memo=memo,
    )
    run.start(startup_timeout)
    try:
        yield run
    finally:
        run.stop()
    if run.error is not None:
        raise RuntimeError(f"the operator crashed: {run.error!r}") from run.error
