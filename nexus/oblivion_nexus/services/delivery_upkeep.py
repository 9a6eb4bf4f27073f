"""The two loops every replica runs beside its connections: wake-ups from other replicas, and upkeep.

The listener turns a pub/sub wake-up (an event was queued somewhere) into a local dispatch. The
upkeep loop sends ``HEARTBEAT`` frames, closes peers silent for two intervals (and connections
whose token expired, with 4401: the agent reconnects with a fresh one), refreshes this
replica's liveness key and last-seen times, and re-examines inboxes: that recovers a wake-up lost
while the pub/sub connection was down, and events held by a replica that crashed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from redis.asyncio.client import PubSub

from oblivion_agent.protocol import CLOSE_UNAUTHORIZED, HeartbeatFrame
from oblivion_nexus.services.agent_connection import AgentConnection
from oblivion_nexus.stores.inbox import InboxError, Pushed, as_text
from oblivion_nexus.stores.presence import PresenceError, utc_now

if TYPE_CHECKING:
    from oblivion_nexus.services.delivery import DeliveryHub

logger = logging.getLogger(__name__)

# The upkeep loop wakes this often per interval (at most once a second) and looks after the
# connections whose turn it is, each at its own phase (when it connected): a replica with 10,000
# agents never does 10,000 of anything in one burst, and dead peers are found to within a tick.
_TICKS_PER_INTERVAL = 4
_MAX_TICK_SECONDS = 1.0
CLOSE_HEARTBEAT_TIMEOUT = 1011  # as the websockets library closes on a keepalive timeout
# Heartbeats due in one tick start this many at a time, yielding to the event loop in between:
# agents that connected in a burst come due in a burst, and sending hundreds of frames in one loop
# iteration stalled event delivery for 100+ ms (measured with bench/ws_gateway.py).
_BEATS_PER_SLICE = 25


async def listen_for_wakeups(hub: DeliveryHub, pubsub: PubSub) -> None:
    """Send events pushed to this replica; wake the local dispatcher of agents with queued events."""
    push_channel = hub.inbox.push_channel(hub.replica)
    backoff = 0.1
    while True:
        try:
            async for message in pubsub.listen():
                if message.get("type") != "message":
                    continue
                data = message["data"]
                if as_text(message["channel"]) == push_channel:
                    hub.pushed(Pushed.parse(data))
                    continue
                workgroup, _, agent = as_text(data).partition("\n")
                hub.wake(workgroup, agent)
                backoff = 0.1
        except asyncio.CancelledError:
            # Bounded: closing must not hold up shutdown if the Redis connection is wedged.
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2.0):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            raise
        except Exception as e:  # Redis went away; redis-py resubscribes when it reconnects
            logger.warning("wake-up subscription interrupted (%s); retrying in %.1fs", e, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)
            for workgroup, agent in hub.connected_agents():  # a wake-up may have been missed
                hub.wake(workgroup, agent)


async def keep_connections(hub: DeliveryHub) -> None:
    """Heartbeats, dead peers, replica liveness, last-seen times and inbox sweeps, forever."""
    interval = hub.heartbeat_seconds
    tick = min(interval / _TICKS_PER_INTERVAL, _MAX_TICK_SECONDS)
    # Checked every tick, so a silent peer is cleared at most two intervals after it fell silent.
    silence_limit = 2 * interval - tick
    while True:
        await asyncio.sleep(tick)
        try:
            await _tend(hub, interval, silence_limit)
        except Exception:  # a bug here must not end heartbeats for every agent of the replica
            logger.exception("delivery upkeep failed; trying again next tick")


async def _tend(hub: DeliveryHub, interval: float, silence_limit: float) -> None:
    now = time.monotonic()
    try:
        await hub.announce_replica()
    except PresenceError as e:
        logger.warning("%s", e)
    conns = hub.all_connections()
    wall_clock = time.time()
    for conn in conns:
        if now - conn.last_heard > silence_limit:
            await hub.close(conn, CLOSE_HEARTBEAT_TIMEOUT, "no heartbeat")
        elif wall_clock >= conn.token_expires_at:
            await hub.close(conn, CLOSE_UNAUTHORIZED, "token expired")
    due = [c for c in conns if not c.closed and now >= c.next_beat]
    if not due:
        return
    beats: list[asyncio.Task[None]] = []
    for start in range(0, len(due), _BEATS_PER_SLICE):
        if start:
            await asyncio.sleep(0)  # let deliveries (and incoming frames) through between slices
        for conn in due[start : start + _BEATS_PER_SLICE]:
            conn.next_beat = now + interval
            beats.append(asyncio.create_task(_beat(hub, conn)))
    await asyncio.gather(*beats)
    heard = [c for c in due if c.heard_unrecorded]
    for conn in heard:
        conn.heard_unrecorded = False
    try:
        await hub.presence_store.mark_seen({(c.workgroup, c.agent) for c in heard}, utc_now())
        await _sweep(hub, {(c.workgroup, c.agent) for c in due})
    except (PresenceError, InboxError) as e:
        logger.warning("%s", e)


async def _sweep(hub: DeliveryHub, agents: set[tuple[str, str]]) -> None:
    """Wake the dispatcher of agents whose inbox holds more than their connections here do."""
    keys = sorted(agents)
    counts = await hub.inbox.queued_counts(keys)
    for (workgroup, agent), queued in zip(keys, counts, strict=True):
        held_here = sum(len(c.in_flight) for c in hub.local_connections(workgroup, agent))
        if queued > held_here:
            hub.wake(workgroup, agent)


async def _beat(hub: DeliveryHub, conn: AgentConnection) -> None:
    try:
        async with asyncio.timeout(hub.heartbeat_seconds), conn.send_lock:
            await conn.link.send_text(HeartbeatFrame().model_dump_json())
    except Exception as e:  # a failed heartbeat means the connection is gone
        logger.info("heartbeat to %s failed (%s)", conn.id, type(e).__name__)
        await hub.close(conn)
