"""Serving the emulator on a free loopback port from its own thread and event loop.

Tests are sync or async, kopf runs in yet another thread, kubectl in a subprocess: the emulator must
answer all of them at once, so it never shares an event loop with its clients. Code on other threads
reaches the store through `call`, which runs a function on the emulator's loop and waits for it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable
from typing import TypeVar

import aiohttp.web

from tests.kube.emulator import KubernetesApiEmulator

logger = logging.getLogger(__name__)

T = TypeVar("T")

_STARTUP_TIMEOUT = 10.0  # seconds; binding a loopback port takes milliseconds


class EmulatorServer:
    """A started emulator: `url` to connect, `call` to touch its state from any thread."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, bookmark_interval: float = 5.0) -> None:
        self.host = host
        self.port = port
        self.bookmark_interval = bookmark_interval
        self._loop: asyncio.AbstractEventLoop | None = None
        self._emulator: KubernetesApiEmulator | None = None
        self._stopping: asyncio.Event | None = None
        self._started = threading.Event()
        self._startup_error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"kube-emulator-{id(self):x}", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def emulator(self) -> KubernetesApiEmulator:
        """The KMock handler; mutate it only through `call` (it lives on the emulator's loop)."""
        if self._emulator is None:
            raise RuntimeError("the emulator is not started")
        return self._emulator

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("the emulator is not started")
        return self._loop

    def start(self) -> EmulatorServer:
        self._thread.start()
        if not self._started.wait(_STARTUP_TIMEOUT):
            raise RuntimeError("the Kubernetes API emulator did not start within 10 s")
        if self._startup_error is not None:
            raise RuntimeError(f"the Kubernetes API emulator failed to start: {self._startup_error!r}")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(_STARTUP_TIMEOUT)

    def call(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the emulator's loop (atomically with respect to requests) and return its result."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn())
            except BaseException as e:
                future.set_exception(e)

        self.loop.call_soon_threadsafe(run)
        return future.result(_STARTUP_TIMEOUT)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as e:
            self._startup_error = e
            self._started.set()
            logger.exception("The Kubernetes API emulator crashed")
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self) -> None:
        self._stopping = asyncio.Event()
        emulator = KubernetesApiEmulator(bookmark_interval=self.bookmark_interval)
        async with emulator:
            server = aiohttp.web.Server(emulator, handler_cancellation=True)
            runner = aiohttp.web.ServerRunner(server, handle_signals=False, shutdown_timeout=1.0)
            await runner.setup()
            site = aiohttp.web.TCPSite(runner, self.host, self.port)
            await site.start()
            self.port = int(runner.addresses[0][1])
            self._emulator = emulator
            self._started.set()
            try:
                await self._stopping.wait()
            finally:
                emulator.close_watches()
                if emulator.store.controllers:  # they end on the closed watches; let them finish
                    await asyncio.wait(emulator.store.controllers, timeout=_STARTUP_TIMEOUT)
                await runner.cleanup()
