"""What every replica runs beside its connections: the wake-up listener, heartbeats, and upkeep.

The listener sends events pushed to this replica and turns a pub/sub wake-up (an event was queued
somewhere) into a local dispatch.

``ConnectionKeeper`` gives each connection three timers on the event loop: its heartbeat, every
interval at its own phase; its silence deadline, two intervals after it was last heard from (then
it is closed with 1011); and its token's expiry (closed with 4401: the agent reconnects with a
fresh token, and a disabled agent gets none). Timers rather than a loop over every connection: a
replica with 10,000 agents never does 10,000 of anything at once, and beats spread over the
interval instead of going out (and their answers coming back) in bursts that stall delivery.
Once a tick (a tenth of a second) it refreshes this replica's liveness key and the last-seen times of
the agents it beat, and re-examines their inboxes: that recovers a wake-up or push lost while the
pub/sub connection was down, and events held by a replica that crashed. It also re-reads the token
standing of the connections it beat, so one whose revocation (a cut-off message) was lost the same
way is closed within a heartbeat interval rather than when its token expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Coroutine
from typing import Any, Protocol

from redis.asyncio.client import PubSub

from oblivion_agent.protocol import CLOSE_FORBIDDEN, CLOSE_UNAUTHORIZED, HeartbeatFrame
from oblivion_nexus.services.gateway.connection import AgentConnection
from oblivion_nexus.stores.agent_standing import AgentStandingStore, StandingError
from oblivion_nexus.stores.inbox import InboxError, InboxStore, Pushed, as_text
from oblivion_nexus.stores.presence import CutOff, PresenceError, PresenceStore, utc_now

logger = logging.getLogger(__name__)

# The upkeep tick: short, so what it writes for the connections beaten since the last one (their
# last-seen times, their inbox counts) goes in small batches; 10,000 agents beat 333 times a second,
# and one batch a second of that size stalled delivery for several milliseconds.
_TICKS_PER_INTERVAL = 4
_MAX_TICK_SECONDS = 0.1
# The replica's liveness key is refreshed this often, not every tick (its TTL is at least 5 s).
_ANNOUNCE_SECONDS = 1.0
CLOSE_HEARTBEAT_TIMEOUT = 1011  # as the websockets library closes on a keepalive timeout


class WakeupListener(Protocol):
    """What the pub/sub listener hands its messages to (the hub)."""

    def pushed(self, push: Pushed) -> None: ...

    def cut_off_here(self, cut_off: CutOff) -> None: ...

    def wake(self, workgroup: str, agent: str) -> None: ...

    def connected_agents(self) -> list[tuple[str, str]]: ...


class KeptConnections(Protocol):
    """What the keeper needs of the hub: its connections, waking their dispatch, closing them, and
    refreshing the replica's liveness."""

    def local_connections(self, workgroup: str, agent: str) -> list[AgentConnection]: ...

    def wake(self, workgroup: str, agent: str) -> None: ...

    async def close(self, conn: AgentConnection, code: int | None = None, reason: str = "") -> None: ...

    async def announce_replica(self) -> None: ...


async def listen_for_wakeups(
    hub: WakeupListener, pubsub: PubSub, *, push_channel: str, cut_off_channel: str
) -> None:
    """Send events pushed to this replica (``push_channel``), wake the dispatcher of agents with
    queued events, and close the connections of agents cut off by the registry (``cut_off_channel``)."""
    backoff = 0.1
    while True:
        try:
            async for message in pubsub.listen():
                if message.get("type") != "message":
                    continue
                data = message["data"]
                channel = as_text(message["channel"])
                if channel == push_channel:
                    hub.pushed(Pushed.parse(data))
                    continue
                if channel == cut_off_channel:
                    hub.cut_off_here(CutOff.parse(data))
                    continue
                workgroup, _, agent = as_text(data).partition("\n")
                hub.wake(workgroup, agent)
                backoff = 0.1
        except asyncio.CancelledError:
            # Bounded: closing must not hold up shutdown if the Redis connection is wedged.
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2.0):
                    await pubsub.aclose()
            raise
        except Exception as e:  # Redis went away; redis-py resubscribes when it reconnects
            logger.warning("wake-up subscription interrupted (%s); retrying in %.1fs", e, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)
            for workgroup, agent in hub.connected_agents():  # a wake-up may have been missed
                hub.wake(workgroup, agent)


class ConnectionKeeper:
    """Heartbeats, silence and token deadlines of one replica's connections, and its upkeep tick."""

    def __init__(
        self,
        hub: KeptConnections,
        heartbeat_seconds: float,
        inbox: InboxStore,
        presence: PresenceStore,
        standing: AgentStandingStore | None,
    ) -> None:
        self.hub = hub
        self.inbox = inbox
        self.presence = presence
        self.standing = standing
        self.interval = heartbeat_seconds
        self.tick = min(self.interval / _TICKS_PER_INTERVAL, _MAX_TICK_SECONDS)
        self._beaten: list[AgentConnection] = []  # since the last tick
        self._announced_at = float("-inf")
        self._tasks: set[asyncio.Task[None]] = set()

    def watch(self, conn: AgentConnection) -> None:
        """Start a new connection's timers.

        The first beat comes at a random point of the second half of the interval: agents that
        connect in a burst (after a restart) must not all come due at once forever.
        """
        loop = asyncio.get_running_loop()
        first_beat = self.interval * (0.5 + random.random() / 2)
        conn.timers["beat"] = loop.call_later(first_beat, self._beat_due, conn)
        conn.timers["silence"] = loop.call_later(2 * self.interval, self._silence_due, conn)
        token_left = conn.token_expires_at - time.time()
        if token_left < float("inf"):
            conn.timers["token"] = loop.call_later(max(0.0, token_left), self._token_expired, conn)

    @staticmethod
    def forget(conn: AgentConnection) -> None:
        for timer in conn.timers.values():
            timer.cancel()
        conn.timers.clear()

    def _beat_due(self, conn: AgentConnection) -> None:
        if conn.closed:
            return
        conn.timers["beat"] = asyncio.get_running_loop().call_later(self.interval, self._beat_due, conn)
        self._beaten.append(conn)
        self._spawn(self._beat(conn))

    def _silence_due(self, conn: AgentConnection) -> None:
        if conn.closed:
            return
        left = 2 * self.interval - (time.monotonic() - conn.last_heard)
        if left > 0:  # heard from since: look again two intervals after that
            conn.timers["silence"] = asyncio.get_running_loop().call_later(left, self._silence_due, conn)
        else:
            self._spawn(self.hub.close(conn, CLOSE_HEARTBEAT_TIMEOUT, "no heartbeat"))

    def _token_expired(self, conn: AgentConnection) -> None:
        self._spawn(self.hub.close(conn, CLOSE_UNAUTHORIZED, "token expired"))

    async def _beat(self, conn: AgentConnection) -> None:
        try:
            async with asyncio.timeout(self.interval), conn.send_lock:
                await conn.link.send_text(HeartbeatFrame().model_dump_json())
        except Exception as e:  # a failed heartbeat means the connection is gone
            logger.info("heartbeat to %s failed (%s)", conn.id, type(e).__name__)
            await self.hub.close(conn)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run(self) -> None:
        """The upkeep tick, forever; cancelling it also cancels beats and closes in progress."""
        task = asyncio.current_task()
        try:
            while task is None or not task.cancelling():  # a Redis call may swallow our cancellation
                await asyncio.sleep(self.tick)
                try:
                    await self._tend()
                except Exception:  # a bug here must not end upkeep for every agent of the replica
                    logger.exception("delivery upkeep failed; trying again next tick")
        finally:
            for errand in self._tasks:
                errand.cancel()

    async def _tend(self) -> None:
        now = time.monotonic()
        if now - self._announced_at >= _ANNOUNCE_SECONDS:
            try:
                await self.hub.announce_replica()
                self._announced_at = now
            except PresenceError as e:
                logger.warning("%s", e)
        beaten, self._beaten = self._beaten, []
        heard = [c for c in beaten if c.heard_unrecorded]
        for conn in heard:
            conn.heard_unrecorded = False
        try:
            await self.presence.mark_seen({(c.workgroup, c.agent) for c in heard}, utc_now())
            await self._sweep({(c.workgroup, c.agent) for c in beaten if not c.closed})
            await self._recheck_tokens([c for c in beaten if not c.closed and c.agent_id])
        except (PresenceError, InboxError, StandingError) as e:
            logger.warning("%s", e)

    async def _recheck_tokens(self, conns: list[AgentConnection]) -> None:
        """Close connections whose token was revoked since they opened (one Redis read for all)."""
        if not conns or self.standing is None:
            return
        standings = await self.standing.get_many(sorted({c.agent_id for c in conns}))
        for conn in conns:
            standing = standings.get(conn.agent_id)
            refusal = standing.refusal(conn.generation) if standing is not None else None
            if refusal is not None:
                forbidden, reason = refusal
                code = CLOSE_FORBIDDEN if forbidden else CLOSE_UNAUTHORIZED
                self._spawn(self.hub.close(conn, code, reason))

    async def _sweep(self, agents: set[tuple[str, str]]) -> None:
        """Wake the dispatcher of agents whose inbox holds more than their connections here do."""
        if not agents:
            return
        keys = sorted(agents)
        counts = await self.inbox.queued_counts(keys)
        for (workgroup, agent), queued in zip(keys, counts, strict=True):
            held_here = sum(len(c.in_flight) for c in self.hub.local_connections(workgroup, agent))
            if queued > held_here:
                self.hub.wake(workgroup, agent)
