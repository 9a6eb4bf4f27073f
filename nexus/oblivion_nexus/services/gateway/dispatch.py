"""Getting queued events onto this replica's connections: pushed events, and claims after a wake-up.

One dispatch task per connected agent claims from its inbox for its connections in turn (so an
agent's events go out in order, and sibling connections share the work); an event the enqueue
script pushed to a connection is sent by a task of its own. Either way an event goes out once per
connection, and one taken for a connection that is closing is handed back to the agent's others.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from typing import Any, Protocol

from oblivion_nexus.observability import DeliveryMetrics
from oblivion_nexus.services.gateway.connection import AgentConnection
from oblivion_nexus.stores.inbox import InboxError, InboxEvent, InboxStore, Pushed
from oblivion_nexus.stores.presence import PresenceError, PresenceStore

logger = logging.getLogger(__name__)

# At most this many unacked events sit on one connection: bounds what a slow agent replica holds
# while its siblings idle, and the burst sent after a reconnect.
MAX_IN_FLIGHT = 100


class ConnectionOwner(Protocol):
    """What the dispatcher needs of the hub: its connections, and closing one whose send failed."""

    @property
    def stopping(self) -> bool: ...

    def connection(self, connection_id: str) -> AgentConnection | None: ...

    def local_connections(self, workgroup: str, agent: str) -> list[AgentConnection]: ...

    async def close(self, conn: AgentConnection, code: int | None = None, reason: str = "") -> None: ...


class Dispatcher:
    """The dispatch and push tasks of one replica's hub."""

    def __init__(
        self, owner: ConnectionOwner, inbox: InboxStore, presence: PresenceStore, metrics: DeliveryMetrics
    ) -> None:
        self.owner = owner
        self.inbox = inbox
        self.presence = presence
        self.metrics = metrics
        self._dispatchers: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._rewake: set[tuple[str, str]] = set()
        self._turn: dict[tuple[str, str], int] = {}
        self._pushes: set[asyncio.Task[None]] = set()

    def tasks(self) -> list[asyncio.Task[None]]:
        return [*self._dispatchers.values(), *self._pushes]

    def forget(self, workgroup: str, agent: str) -> None:
        """The agent has no connection here any more."""
        self._turn.pop((workgroup, agent), None)

    def pushed(self, push: Pushed) -> None:
        """Send an event the enqueue script handed to one of this replica's connections."""
        conn = self.owner.connection(push.connection_id)
        if conn is None:  # released before the push arrived: let any connection of the agent claim it
            self._spawn(self._hand_back_unknown(push))
        else:
            self._spawn(self._send_event(conn, push.event))

    async def _hand_back_unknown(self, push: Pushed) -> None:
        # Usually its entry is gone already; if removing it had failed, the stale entry would keep
        # attracting pushes and make what it holds look held, so this replica, its owner, drops it.
        try:
            await self.presence.drop_stale(push.workgroup, push.agent, push.connection_id)
        except PresenceError as e:
            logger.warning("%s", e)
        await self._hand_back(push.workgroup, push.agent)

    async def _hand_back(self, workgroup: str, agent: str) -> None:
        try:
            await self.inbox.wake_replicas(workgroup, agent)
        except InboxError as e:  # the upkeep sweep of the agent's other connections finds it later
            logger.warning("could not hand back an event of %s/%s: %s", workgroup, agent, e)

    def wake(self, workgroup: str, agent: str) -> None:
        """Make sure a dispatch task looks at this agent's inbox soon, if it is connected here."""
        key = (workgroup, agent)
        if self.owner.stopping or not self.owner.local_connections(*key):
            return
        task = self._dispatchers.get(key)
        if task is not None and not task.done():
            self._rewake.add(key)
            return
        self._dispatchers[key] = asyncio.create_task(
            self._dispatch(key), name=f"dispatch {workgroup}/{agent}"
        )

    async def _dispatch(self, key: tuple[str, str]) -> None:
        try:
            while True:
                self._rewake.discard(key)
                await self._dispatch_once(key)
                if key not in self._rewake:
                    return
        except InboxError as e:
            logger.warning("delivery to %s/%s paused until the next wake-up: %s", *key, e)
        finally:
            if self._dispatchers.get(key) is asyncio.current_task():
                del self._dispatchers[key]

    async def _dispatch_once(self, key: tuple[str, str]) -> None:
        conns = [c for c in self.owner.local_connections(*key) if not c.closed]
        if not conns:
            return
        turn = self._turn.get(key, 0)
        self._turn[key] = turn + 1
        for i in range(len(conns)):  # round-robin, so sibling connections share the work
            conn = conns[(turn + i) % len(conns)]
            room = MAX_IN_FLIGHT - len(conn.in_flight)
            if room <= 0 or conn.closed:
                continue
            # A claim returns events pushed to this connection and not known to be sent; one pushed,
            # sent and acked while the claim was on its way must not go out again.
            acked: set[str] = set()
            conn.acked_while_claiming = acked
            try:
                claim = await self.inbox.claim(conn.workgroup, conn.agent, conn.id, room)
                if claim.expired:
                    self.metrics.expired.inc(claim.expired)
                    logger.info("%d event(s) of %s/%s expired unacked", claim.expired, *key)
                for event in claim.events:
                    if event.id not in acked:
                        await self._send_event(conn, event)
            finally:
                conn.acked_while_claiming = None
            if len(claim.events) < room:
                return  # nothing else is claimable right now

    async def _send_event(self, conn: AgentConnection, event: InboxEvent) -> None:
        if event.id in conn.in_flight:  # pushed and claimed both: it goes out once
            return
        conn.in_flight.add(event.id)
        if conn.closed:  # ``close`` hands back what is in flight; once it has released conn, we do
            if self.owner.connection(conn.id) is None:
                await self._hand_back(conn.workgroup, conn.agent)
            return
        try:
            async with conn.send_lock:
                await conn.link.send_text(event.frame_json)
        except Exception as e:  # any transport failure means the connection is gone
            logger.info("sending to %s failed (%s); its events go elsewhere", conn.id, type(e).__name__)
            await self.owner.close(conn)
            return
        self.metrics.delivered.inc()
        self.metrics.delivery_latency.observe(max(0.0, time.time() - event.queued_at_ms / 1000))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._pushes.add(task)
        task.add_done_callback(self._pushes.discard)
