"""Watches: the change log every write lands in, and the event streams served from it.

A watch starting at a resourceVersion replays only the newer changes kept in the log (410 Expired when
they were compacted away); without one it starts with the current objects. Streams send BOOKMARKs when
asked (kopf asks, to keep its inactivity timer alive), honour `timeoutSeconds`, and end when the
emulator stops.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from tests.kube import errors
from tests.kube.resources import ResourceType
from tests.kube.selectors import Matcher

# Enough history for watches resuming after a short disconnect; older resourceVersions get 410 Gone.
EVENT_LOG_SIZE = 50_000


@dataclass(frozen=True)
class WatchEvent:
    resource_version: int
    type: str
    group: str
    plural: str
    obj: dict[str, Any]
    previous: dict[str, Any] | None = None  # the object before a MODIFIED change


@dataclass(eq=False)
class Subscription:
    """One open watch: events of one resource, filtered by namespace and selectors."""

    rtype: ResourceType
    namespace: str | None
    matcher: Matcher
    queue: asyncio.Queue[WatchEvent | None] = field(default_factory=asyncio.Queue)

    def translate(self, event: WatchEvent) -> WatchEvent | None:
        """The event as this watch sees it: an object entering the selector is ADDED, one leaving it
        is DELETED (as the real server does), others pass through or are not shown at all."""
        if (event.group, event.plural) != (self.rtype.group, self.rtype.plural):
            return None
        if self.namespace is not None and event.obj["metadata"].get("namespace") != self.namespace:
            return None
        matches = self.matcher(event.obj)
        if event.type == "MODIFIED" and event.previous is not None:
            matched = self.matcher(event.previous)
            if matches and not matched:
                return dataclasses.replace(event, type="ADDED")
            if matched and not matches:
                return dataclasses.replace(event, type="DELETED")
        return event if matches else None


class ChangeLog:
    """The bounded history of changes plus the live subscriptions they are fanned out to."""

    def __init__(self, size: int = EVENT_LOG_SIZE) -> None:
        self._log: collections.deque[WatchEvent] = collections.deque(maxlen=size)
        self._compacted = 0
        self._subscriptions: set[Subscription] = set()

    def publish(self, event: WatchEvent) -> None:
        if len(self._log) == self._log.maxlen:
            self._compacted = self._log[0].resource_version
        self._log.append(event)
        for subscription in self._subscriptions:
            seen = subscription.translate(event)
            if seen is not None:
                subscription.queue.put_nowait(seen)

    def compact(self, up_to: int) -> None:
        """Forget history up to a resourceVersion, as etcd compaction does (tests of 410 use it)."""
        self._compacted = max(self._compacted, up_to)
        while self._log and self._log[0].resource_version <= up_to:
            self._log.popleft()

    def subscribe(self, subscription: Subscription, since: int) -> list[WatchEvent]:
        """Start a live subscription; returns the kept changes newer than `since`."""
        if since < self._compacted:
            raise errors.ApiError(410, "Expired", f"too old resource version: {since} ({self._compacted})")
        seen = (subscription.translate(e) for e in self._log if e.resource_version > since)
        backlog = [e for e in seen if e is not None]
        self._subscriptions.add(subscription)
        return backlog

    def add(self, subscription: Subscription) -> None:
        self._subscriptions.add(subscription)

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

    def close(self) -> None:
        for subscription in self._subscriptions:
            subscription.queue.put_nowait(None)


def bookmark(rtype: ResourceType, resource_version: int, *, initial_end: bool = False) -> dict[str, Any]:
    metadata: dict[str, Any] = {"resourceVersion": str(resource_version)}
    if initial_end:
        metadata["annotations"] = {"k8s.io/initial-events-end": "true"}
    return {
        "type": "BOOKMARK",
        "object": {"kind": rtype.kind, "apiVersion": rtype.api_version, "metadata": metadata},
    }


async def single_event(event: dict[str, Any]) -> AsyncIterator[Any]:
    yield event


@dataclass
class WatchStream:
    """How one watch request wants its events delivered."""

    rtype: ResourceType
    subscription: Subscription
    backlog: list[WatchEvent]
    current_version: Callable[[], int]
    unsubscribe: Callable[[Subscription], None]
    timeout: float | None = None
    bookmarks: bool = False
    bookmark_interval: float = 5.0
    initial_end: bool = False

    def _render(self, event: WatchEvent) -> dict[str, Any]:
        obj = event.obj
        if obj.get("apiVersion") != self.rtype.api_version:
            obj = {**obj, "apiVersion": self.rtype.api_version}
        return {"type": event.type, "object": obj}

    async def events(self) -> AsyncIterator[Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout if self.timeout else None
        try:
            yield b""  # send the headers now: clients wait for them before reading events
            for event in self.backlog:
                yield self._render(event)
            if self.initial_end:
                yield bookmark(self.rtype, self.current_version(), initial_end=True)
            while True:
                wait = self.bookmark_interval if self.bookmarks else None
                if deadline is not None:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        return
                    wait = min(wait, remaining) if wait is not None else remaining
                try:
                    item = await asyncio.wait_for(self.subscription.queue.get(), wait)
                except TimeoutError:
                    if self.bookmarks and (deadline is None or loop.time() < deadline):
                        yield bookmark(self.rtype, self.current_version())
                    continue
                if item is None:
                    return
                yield self._render(item)
        finally:
            self.unsubscribe(self.subscription)
