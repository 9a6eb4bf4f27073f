"""Live delivery of events to connected agents, across every Nexus replica sharing one Redis.

An event is first written to the agent's durable inbox (``stores.inbox``). If nothing else waits
there and the agent has a live connection, the write hands the event to that connection and
publishes it on the connection's replica's own channel: the replica just sends it (the fast path,
one Redis round trip from queueing to sending). Otherwise it publishes a wake-up on one channel every
replica listens to; the ones holding a connection of that agent claim events from the inbox for one
of their connections and send them. Both are atomic, so an agent with several connections gets each
event once; an event stays in the inbox until acked, and when its connection dies it becomes
claimable again and goes to the next connection.

The hub owns this replica's connections; ``dispatch`` gets events onto them, and ``upkeep``
runs the pub/sub listener, the heartbeats and the upkeep tick; both see the hub through a narrow
protocol of their own. Queueing is ``queueing.enqueue_event``; redelivery of an unacked event is
the inbox's claim script (``stores/inbox.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
import uuid
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import redis.asyncio as aioredis

from oblivion_agent.protocol import CLOSE_FORBIDDEN, CLOSE_GOING_AWAY, EventFrame
from oblivion_nexus.observability import DeliveryMetrics, access_tokens_redacted
from oblivion_nexus.services.gateway.connection import AgentConnection, AgentLink
from oblivion_nexus.services.gateway.dispatch import MAX_IN_FLIGHT, Dispatcher
from oblivion_nexus.services.gateway.queueing import enqueue_event
from oblivion_nexus.services.gateway.upkeep import ConnectionKeeper, listen_for_wakeups
from oblivion_nexus.settings import NexusSettings
from oblivion_nexus.stores.agent_standing import AgentStandingStore
from oblivion_nexus.stores.inbox import (
    DEFAULT_REDIS_SLOTS,
    InboxError,
    InboxStore,
    Pushed,
    Queued,
)
from oblivion_nexus.stores.presence import (
    EVERY_AGENT,
    AgentPresence,
    CutOff,
    PresenceError,
    PresenceStore,
    utc_now,
)

logger = logging.getLogger(__name__)

# The replica key outlives a missed refresh or two; a crashed replica's connections count as gone
# once it expires.
_MIN_REPLICA_TTL_SECONDS = 5.0
_LINK_CLOSE_TIMEOUT_SECONDS = 5.0
# Shutdown must finish well inside Kubernetes' default 30 s grace period, whatever a loop is stuck on.
_STOP_TIMEOUT_SECONDS = 10.0


class DeliveryResources(Protocol):
    @property
    def settings(self) -> NexusSettings: ...

    @property
    def redis(self) -> aioredis.Redis: ...


@dataclass(frozen=True, slots=True)
class PresenceReport:
    connected: bool
    connections: int
    last_seen: datetime | None
    pending_events: int


class DeliveryHub:
    """This replica's side of event delivery: its connections, dispatchers and background loops."""

    def __init__(
        self,
        inbox: InboxStore,
        presence: PresenceStore,
        metrics: DeliveryMetrics,
        heartbeat_seconds: float,
        replica: str | None = None,
        max_connections_per_agent: int | None = None,
        standing: AgentStandingStore | None = None,
    ) -> None:
        self.inbox = inbox
        self.presence_store = presence
        # Agents' token standings, read on every connect: on the same Redis slots as delivery.
        self.standing = standing
        self.metrics = metrics
        self.heartbeat_seconds = heartbeat_seconds
        self.max_connections_per_agent = max_connections_per_agent
        self.replica = replica or uuid.uuid4().hex[:12]
        self._replica_ttl = max(2 * heartbeat_seconds, _MIN_REPLICA_TTL_SECONDS)
        self._numbers = itertools.count(1)
        self._connections: dict[tuple[str, str], list[AgentConnection]] = {}
        self._by_id: dict[str, AgentConnection] = {}  # until released, see ``close``
        self._background: set[asyncio.Task[None]] = set()
        self._link_closers: set[asyncio.Task[None]] = set()
        self.stopping = False
        # Both see the hub only through the narrow protocols they declare, plus the stores they use.
        self.keeper = ConnectionKeeper(self, heartbeat_seconds, inbox, presence, standing)
        self.dispatcher = Dispatcher(self, inbox, presence, metrics)

    # -- the public surface -------------------------------------------------------------------

    async def enqueue(self, workgroup: str, agent: str, frame: EventFrame) -> str:
        """Queue an event for an agent durably and deliver it wherever the agent is connected."""
        queued = await enqueue_event(self.inbox, workgroup, agent, frame, self.metrics)
        if queued is not Queued.PUSHED:
            self.wake(workgroup, agent)  # the local shortcut; other replicas hear the pub/sub wake-up
        return frame.id

    async def presence(self, workgroup: str, agent: str) -> PresenceReport:
        seen: AgentPresence = await self.presence_store.read(workgroup, agent)
        claim = await self.inbox.pending(workgroup, agent)
        self.metrics.expired.inc(claim.expired)
        return PresenceReport(
            connected=seen.connected,
            connections=len(seen.connections),
            last_seen=seen.last_seen,
            pending_events=claim.pending,
        )

    def local_connections(self, workgroup: str, agent: str) -> list[AgentConnection]:
        return list(self._connections.get((workgroup, agent), ()))

    def all_connections(self) -> list[AgentConnection]:
        return [c for conns in self._connections.values() for c in conns]

    def connected_agents(self) -> list[tuple[str, str]]:
        return list(self._connections)

    def connection(self, connection_id: str) -> AgentConnection | None:
        """An open or closing connection of this replica; None once ``close`` released it."""
        return self._by_id.get(connection_id)

    def wake(self, workgroup: str, agent: str) -> None:
        """Make sure this agent's inbox is looked at soon, if it is connected here."""
        self.dispatcher.wake(workgroup, agent)

    def pushed(self, push: Pushed) -> None:
        """Send an event the enqueue script handed to one of this replica's connections."""
        self.dispatcher.pushed(push)

    async def announce_replica(self) -> None:
        """Refresh this replica's liveness key; its connections count as gone once it expires."""
        await self.presence_store.keep_replica_alive(self.replica, self._replica_ttl)

    async def open(
        self,
        workgroup: str,
        agent: str,
        link: AgentLink,
        token_expires_at: float = float("inf"),
        *,
        agent_id: int = 0,
        generation: int = 0,
    ) -> AgentConnection:
        """Register a new connection; unacked events of the agent start flowing to it.

        It is closed with 4401 when ``token_expires_at`` passes. Raises ``TooManyConnections`` when
        the agent already has ``max_connections_per_agent`` open, over every replica.
        """
        conn = AgentConnection(
            id=f"{self.replica}/{next(self._numbers)}",
            workgroup=workgroup,
            agent=agent,
            link=link,
            connected_at=utc_now(),
            token_expires_at=token_expires_at,
            agent_id=agent_id,
            generation=generation,
        )
        await self.presence_store.record_connection(
            workgroup, agent, conn.record(), conn.connected_at, self.max_connections_per_agent
        )
        self._connections.setdefault((workgroup, agent), []).append(conn)
        self._by_id[conn.id] = conn
        self.keeper.watch(conn)
        self.metrics.connections.inc()
        logger.info("agent %s/%s connected (%s)", workgroup, agent, conn.id)
        self.wake(workgroup, agent)
        return conn

    async def register(self, conn: AgentConnection, capabilities: list[str], runtime_version: str) -> None:
        """Record what the agent said about itself in its REGISTER frame."""
        if conn.closed:
            return
        record = conn.record(tuple(capabilities), runtime_version)
        if not await self.presence_store.update_connection(conn.workgroup, conn.agent, record, utc_now()):
            return  # released meanwhile (closed, or its agent deleted): nothing to update
        if conn.closed:  # closed while we wrote: a stale entry would keep its events held forever
            await self.presence_store.forget_connection(conn.workgroup, conn.agent, conn.id, utc_now())
            return
        logger.info("agent %s/%s registered runtime %r", conn.workgroup, conn.agent, runtime_version[:64])

    def heard(self, conn: AgentConnection) -> None:
        conn.last_heard = time.monotonic()
        conn.heard_unrecorded = True

    async def ack(self, conn: AgentConnection, event_ids: list[str]) -> int:
        acked = await self.inbox.ack(conn.workgroup, conn.agent, event_ids)
        self.metrics.acked.inc(acked)
        was_full = len(conn.in_flight) >= MAX_IN_FLIGHT
        conn.in_flight.difference_update(event_ids)
        if conn.acked_while_claiming is not None:
            conn.acked_while_claiming.update(event_ids)
        if was_full:  # events may be waiting for room on this connection
            self.wake(conn.workgroup, conn.agent)
        return acked

    async def close(self, conn: AgentConnection, code: int | None = None, reason: str = "") -> None:
        """Forget a connection (idempotent); its unacked events go to the agent's other connections.

        With ``code`` the socket is also closed, in the background: a dead peer never answers.
        Events that reach the connection while it closes join ``in_flight`` and are handed back
        here; once it is released (its presence entry gone), ``_send_event`` hands them back.
        """
        if conn.closed:
            return
        conn.closed = True
        self.keeper.forget(conn)
        key = (conn.workgroup, conn.agent)
        siblings = self._connections.get(key, [])
        if conn in siblings:
            siblings.remove(conn)
        if not siblings:
            self._connections.pop(key, None)
            self.dispatcher.forget(*key)
        self.metrics.connections.dec()
        logger.info("agent %s/%s disconnected (%s) %s", conn.workgroup, conn.agent, conn.id, reason)
        if code is not None:
            self._spawn(self._close_link(conn, code, reason), self._link_closers)
        try:
            await self.presence_store.forget_connection(conn.workgroup, conn.agent, conn.id, utc_now())
            if conn.in_flight:
                await self.inbox.wake_replicas(conn.workgroup, conn.agent)
        except (PresenceError, InboxError) as e:
            logger.warning("could not release connection %s: %s", conn.id, e)
        del self._by_id[conn.id]
        if conn.in_flight:
            self.wake(conn.workgroup, conn.agent)

    async def cut_off(
        self,
        workgroup: str,
        agent: str,
        reason: str,
        *,
        code: int = CLOSE_FORBIDDEN,
        agent_id: int | None = None,
        below_generation: int | None = None,
    ) -> None:
        """Close an agent's connections (``EVERY_AGENT``: a workgroup's) with ``code`` on every replica.

        The registry calls it when an agent is disabled or deleted (4403), or when its credentials
        changed (4401, only connections opened with a token older than ``below_generation``); without
        it the agent would keep its open connections until its token expires.
        """
        cut_off = CutOff(workgroup, agent, reason, code, agent_id, below_generation)
        self.cut_off_here(cut_off)
        try:
            await self.presence_store.announce_cut_off(cut_off)
        except PresenceError as e:  # other replicas still end the connections when the token expires
            logger.warning("%s", e)

    def cut_off_here(self, cut_off: CutOff) -> None:
        for (workgroup, agent), conns in list(self._connections.items()):
            if workgroup == cut_off.workgroup and cut_off.agent in (agent, EVERY_AGENT):
                for conn in list(conns):
                    if cut_off.applies_to(conn.workgroup, conn.agent, conn.agent_id, conn.generation):
                        self._spawn(self.close(conn, cut_off.code, cut_off.reason), self._link_closers)

    async def purge(self, workgroup: str, agent: str) -> None:
        """Forget a deleted agent's inbox and presence, so an agent re-created under its name starts
        empty; its connections must have been cut off first."""
        await self.inbox.purge(workgroup, agent)
        await self.presence_store.purge(workgroup, agent)

    # -- background loops ---------------------------------------------------------------------

    async def start(self) -> None:
        """Announce this replica, subscribe to wake-ups, and start the heartbeat."""
        await self.announce_replica()
        pubsub = self.inbox.subscriber()
        await pubsub.subscribe(
            self.inbox.wake_channel,
            self.inbox.push_channel(self.replica),
            self.presence_store.cut_off_channel,
        )
        listener = listen_for_wakeups(
            self,
            pubsub,
            push_channel=self.inbox.push_channel(self.replica),
            cut_off_channel=self.presence_store.cut_off_channel,
        )
        self._spawn(listener, self._background)
        self._spawn(self.keeper.run(), self._background)
        logger.info("delivery started on replica %s (heartbeat %.1fs)", self.replica, self.heartbeat_seconds)

    async def stop(self) -> None:
        """Cancel the loops, close every connection with 1001, and retire this replica."""
        self.stopping = True
        for conn in [c for conns in self._connections.values() for c in conns]:
            await self.close(conn, CLOSE_GOING_AWAY, "Nexus is shutting down")
        tasks = [*self._background, *self.dispatcher.tasks()]
        for task in tasks:
            task.cancel()
        pending = [*tasks, *self._link_closers]
        if pending:
            _done, stuck = await asyncio.wait(pending, timeout=_STOP_TIMEOUT_SECONDS)
            for task in stuck:
                frames = task.get_stack(limit=3)
                where = " <- ".join(f"{f.f_code.co_name}:{f.f_lineno}" for f in frames) or "?"
                logger.warning(
                    "delivery task %s did not stop within %.0fs (at %s)", task, _STOP_TIMEOUT_SECONDS, where
                )
        try:
            await self.presence_store.retire_replica(self.replica)
        except PresenceError as e:
            logger.warning("could not retire replica %s: %s", self.replica, e)
        logger.info("delivery stopped on replica %s", self.replica)

    @staticmethod
    def _spawn(coro: Coroutine[Any, Any, None], tasks: set[asyncio.Task[None]]) -> None:
        task = asyncio.create_task(coro)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    @staticmethod
    async def _close_link(conn: AgentConnection, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(_LINK_CLOSE_TIMEOUT_SECONDS):
                await conn.link.close(code, reason)


@asynccontextmanager
async def delivery_lifespan(
    resources: DeliveryResources, metrics: DeliveryMetrics | None = None
) -> AsyncIterator[DeliveryHub]:
    """Run delivery for an app: yields the hub, and on exit stops it cleanly. ``metrics`` are the
    app's (``oblivion dev`` shares them with its worker); a new set by default."""
    settings = resources.settings
    slots = asyncio.Semaphore(DEFAULT_REDIS_SLOTS)  # shared: both stores draw on one Redis pool
    hub = DeliveryHub(
        inbox=InboxStore(resources.redis, settings.redis.prefix, settings.gateway.inbox_ttl_seconds, slots),
        presence=PresenceStore(resources.redis, settings.redis.prefix, slots),
        metrics=metrics if metrics is not None else DeliveryMetrics(),
        heartbeat_seconds=settings.gateway.heartbeat_seconds,
        max_connections_per_agent=settings.gateway.max_connections_per_agent,
        standing=AgentStandingStore(resources.redis, settings.redis.prefix, slots),
    )
    with access_tokens_redacted():
        await hub.start()
        try:
            yield hub
        finally:
            await hub.stop()
