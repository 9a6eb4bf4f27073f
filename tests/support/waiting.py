"""Waiting for a condition with a deadline: the one way tests synchronise with servers and processes.

A test never sleeps for a fixed time; it polls a check until it returns something truthy, and fails
naming what it waited for. The first looks come quickly (most conditions hold within milliseconds),
then the pace settles at ``interval`` so a slow condition does not keep two CPU cores busy. When the
thing that should make the condition true dies (a child process), waiting on is pointless: pass it
as ``watch`` and the wait fails at once with what it left behind.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

FIRST_INTERVAL = 0.01  # seconds before the second look: an in-memory condition is usually true by then


class WaitTimeout(AssertionError):
    """A condition did not come true before its deadline (or what should make it true died)."""


class Watched(Protocol):
    """Something a wait depends on, such as a child process: if it is gone, the wait fails at once."""

    @property
    def alive(self) -> bool: ...

    def exit_report(self) -> str:
        """How it ended (exit code, last lines of output), for the failure message."""
        ...


class _Wait:
    """One wait's deadline, pace and failure message, shared by the async and the blocking form."""

    def __init__(
        self,
        timeout: float,
        interval: float,
        what: str,
        watch: Iterable[Watched],
        context: Callable[[], str] | None,
    ) -> None:
        self.timeout = timeout
        self.what = what
        self.watch = list(watch)
        self.context = context
        self.deadline = time.monotonic() + timeout
        self.interval = min(FIRST_INTERVAL, interval)
        self.max_interval = interval

    def next_pause(self, last: Any) -> float:
        """Seconds to pause before the next look; raises when the wait is over."""
        for dependency in self.watch:
            if not dependency.alive:
                raise WaitTimeout(f"gave up waiting for {self.what}: {dependency.exit_report()}")
        if time.monotonic() > self.deadline:
            context = f"\n{self.context()}" if self.context is not None else ""
            raise WaitTimeout(
                f"timed out after {self.timeout} s waiting for {self.what}{_last(last)}{context}"
            )
        pause, self.interval = self.interval, min(self.interval * 2, self.max_interval)
        return pause


def _last(value: Any) -> str:
    """The check's last answer, when it says more than "no"."""
    if value is None or isinstance(value, bool):
        return ""
    text = repr(value)
    return f" (last value: {text[:500]}{'…' if len(text) > 500 else ''})"


async def eventually(
    check: Callable[[], Any],
    *,
    timeout: float = 10.0,
    what: str = "condition",
    interval: float = 0.05,
    watch: Iterable[Watched] = (),
    context: Callable[[], str] | None = None,
) -> Any:
    """Poll ``check()`` (sync or async) until it returns something truthy and return that; raise
    :class:`WaitTimeout` naming ``what`` after ``timeout`` seconds or once a ``watch``-ed dependency died.
    ``context()`` is added to a timeout's message (e.g. the end of a log). The event loop keeps
    running between looks, so servers in the test's loop keep answering."""
    wait = _Wait(timeout, interval, what, watch, context)
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        await asyncio.sleep(wait.next_pause(result))


def eventually_sync(
    check: Callable[[], Any],
    *,
    timeout: float = 10.0,
    what: str = "condition",
    interval: float = 0.05,
    watch: Iterable[Watched] = (),
    context: Callable[[], str] | None = None,
) -> Any:
    """:func:`eventually` for synchronous tests, fixtures and scripts (blocks the calling thread)."""
    wait = _Wait(timeout, interval, what, watch, context)
    while True:
        result = check()
        if result:
            return result
        time.sleep(wait.next_pause(result))
