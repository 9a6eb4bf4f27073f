"""Servers of the tests on loopback ports: an ASGI app under uvicorn in the test's own event loop
(:func:`serving_asgi`), or any server in a background thread (:class:`BackgroundServer`, and
:class:`LoopbackServer` for an ASGI app).

A background thread with its own event loop keeps a fake answering while a test blocks or awaits, and
lets synchronous and asynchronous tests use the same fakes. Every start waits for the server to
listen, with a deadline, and fails with what stopped it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator
from typing import Any, Self

import uvicorn

logger = logging.getLogger(__name__)

STARTUP_TIMEOUT = 10.0  # seconds; binding a loopback port and starting an app takes milliseconds
STOP_TIMEOUT = 15.0  # seconds for open connections to finish once a server is told to stop


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (for a child process to bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def bound_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A socket bound to ``host:port`` (port 0: a free one), handed to the server so no other process
    can take the port between choosing and listening."""
    # IPPROTO_TCP spelled out: asyncio turns Nagle off (TCP_NODELAY) only on sockets whose proto says
    # TCP, and accepted sockets inherit this one's; with proto 0 every small answer waited ~40 ms for
    # the client's delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


@contextlib.asynccontextmanager
async def serving_asgi(
    app: Any, sock: socket.socket, *, timeout: float = STARTUP_TIMEOUT, what: str = "server", **config: Any
) -> AsyncIterator[uvicorn.Server]:
    """Serve ``app`` under uvicorn on ``sock`` in the running event loop until the block ends.

    ``config`` goes to ``uvicorn.Config`` (``lifespan``, ``ws``, ``log_config``…). The block starts once
    uvicorn reports started; a start-up that fails raises what made it fail.
    """
    server = uvicorn.Server(uvicorn.Config(app, **config))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        deadline = time.monotonic() + timeout
        while not server.started:
            if task.done():
                task.result()  # raises what made start-up fail
                raise RuntimeError(f"{what} stopped during start-up (see the log above)")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} did not start within {timeout} s")
            await asyncio.sleep(0.01)
        yield server
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, STOP_TIMEOUT)


class BackgroundServer:
    """A server running in a daemon thread with its own event loop, until :meth:`stop`.

    Subclasses implement :meth:`serving`: an async context manager that listens on ``host:port``,
    sets ``port`` to the port it got, and stops listening on exit. Use as a context manager, or call
    :meth:`start` and :meth:`stop`.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def serving(self) -> contextlib.AbstractAsyncContextManager[object]:
        raise NotImplementedError

    def start(self, timeout: float = STARTUP_TIMEOUT) -> Self:
        name = f"{type(self).__name__}-{id(self):x}"
        self._started.clear()
        self._error = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        if not self._started.wait(timeout):
            raise RuntimeError(f"{name} did not start within {timeout} s")
        if self._error is not None:
            raise RuntimeError(f"{name} did not start: {self._error!r}") from self._error
        return self

    def stop(self) -> None:
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is None:
            return
        if loop is not None and stopping is not None and thread.is_alive():
            loop.call_soon_threadsafe(stopping.set)
        thread.join(STOP_TIMEOUT)
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve_until_stopped())
        except BaseException as e:
            self._error = e
            if self._started.is_set():  # a failed start is raised by start(); a crash later is logged
                logger.exception("%s crashed", threading.current_thread().name)
        finally:
            self._started.set()  # a start() still waiting learns of the error at once
            loop.close()
            self._loop = None

    async def _serve_until_stopped(self) -> None:
        self._stopping = asyncio.Event()
        async with self.serving():
            self._started.set()
            await self._stopping.wait()


class LoopbackServer(BackgroundServer):
    """An ASGI app (Starlette, FastAPI) under uvicorn in a background thread."""

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host=host, port=port)
        self.app = app

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[object]:
        sock = bound_socket(self.host, self.port)
        self.port = sock.getsockname()[1]
        try:
            async with serving_asgi(
                self.app, sock, what=type(self).__name__, log_level="warning", lifespan="off", ws="none"
            ) as server:
                yield server
        finally:
            sock.close()
