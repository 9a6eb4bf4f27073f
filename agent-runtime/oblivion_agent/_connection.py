"""The agent's link to Nexus: token, WebSocket, reconnects, heartbeats and acks.

One ``NexusLink`` keeps one WebSocket to Nexus open for as long as the agent runs. It sends REGISTER
first, hands every event frame to the agent (awaiting it, so a busy agent stops reading instead of
buffering without bound), answers and sends heartbeats, and treats Nexus as dead after two silent
heartbeat intervals. Lost connections are retried with exponential backoff and full jitter; a rejected
token (close 4401) is replaced before the retry; a disabled agent (close 4403) stops the runtime.
Acks that cannot be sent are kept and sent after the next REGISTER (Nexus redelivers those events
anyway, and the agent drops the duplicates). Nexus redelivers unacked events only to a new
connection, so after a handler failed the link reconnects, after a growing delay, to get it back.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pydantic
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.typing import Subprotocol

from oblivion_agent._backoff import Backoff
from oblivion_agent._errors import AgentDisabledError, TokenError
from oblivion_agent._settings import AgentSettings
from oblivion_agent._token import TokenSource
from oblivion_agent.protocol import (
    CLOSE_FORBIDDEN,
    CLOSE_POLICY_VIOLATION,
    CLOSE_UNAUTHORIZED,
    SUBPROTOCOL,
    Ack,
    AckFrame,
    ErrorFrame,
    EventFrame,
    HeartbeatFrame,
    Register,
    RegisterFrame,
    parse_server_frame,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

EventSink = Callable[[EventFrame], Awaitable[None]]
"""Receives each event frame; may wait (for a free handler slot) before returning."""

# Close code when Nexus stayed silent too long; 1001 tells it the agent is going away from this socket.
_CLOSE_SILENT_PEER = 1001
_CLOSE_ABNORMAL = 1006  # no close frame was received (RFC 6455 §7.1.5)


class _WithoutDebug(logging.LoggerAdapter[logging.Logger]):
    """websockets logs the handshake's headers, bearer token included, at DEBUG: never enable it."""

    def isEnabledFor(self, level: int) -> bool:
        return level > logging.DEBUG and self.logger.isEnabledFor(level)


class _Ended(enum.Enum):
    STOPPED = "stopped"
    UNAUTHORIZED = "unauthorized"
    LOST = "lost"
    REDELIVER = "redeliver"


class NexusLink:
    def __init__(
        self,
        settings: AgentSettings,
        tokens: TokenSource,
        deliver: EventSink,
        register: Register,
        *,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._tokens = tokens
        self._deliver = deliver
        self._register = register
        self._clock = clock
        self.backoff = Backoff(settings.backoff_base_seconds, settings.backoff_cap_seconds, rng)
        # Nexus hands unacked events to the next connection only, so a failed handler's event comes
        # back by reconnecting; failures in a row wait longer and longer before that reconnect.
        self.redelivery_backoff = Backoff(settings.backoff_base_seconds, settings.backoff_cap_seconds, rng)
        self._redeliver = asyncio.Event()
        self._redelivery_timer: asyncio.Task[None] | None = None
        self._ws: ClientConnection | None = None
        self._pending_acks: dict[str, None] = {}  # ordered set: acks not yet sent
        self._last_heartbeat_sent = 0.0
        self.sessions = 0  # how many times REGISTER was sent, i.e. connections made
        self.registered = asyncio.Event()  # set while a connection is registered

    async def ack(self, event_id: str) -> None:
        """Ack a handled event now, or after the next connect if there is no connection."""
        self._pending_acks[event_id] = None
        await self._flush_acks()

    def request_redelivery(self) -> None:
        """Reconnect after a delay so that Nexus delivers the unacked (failed) events again."""
        if self._redelivery_timer is None or self._redelivery_timer.done():
            delay = self.redelivery_backoff.next_delay()
            logger.info("asking Nexus to redeliver unacked events in %.2f s", delay)
            self._redelivery_timer = asyncio.create_task(self._redeliver_after(delay))

    async def _redeliver_after(self, delay: float) -> None:
        await asyncio.sleep(delay)
        self._redeliver.set()

    def _cancel_redelivery(self) -> None:
        """A new connection gets every unacked event anyway."""
        if self._redelivery_timer is not None:
            self._redelivery_timer.cancel()
            self._redelivery_timer = None
        self._redeliver.clear()

    async def run(self, stopping: asyncio.Event, drain: Callable[[], Awaitable[None]]) -> None:
        """Stay connected until ``stopping`` is set; then stop reading, ``drain()``, and close 1000.

        Raises ``AgentDisabledError`` when Nexus refuses the agent for good.
        """
        try:
            while not stopping.is_set():
                started = self._clock()
                try:
                    token = await _unless_stopping(self._tokens.get(), stopping)
                except TokenError as e:
                    ended = _Ended.LOST
                    logger.warning("could not get an access token: %s", e)
                else:
                    ended = _Ended.STOPPED if token is None else await self._session(token, stopping, drain)
                if ended is _Ended.STOPPED:
                    break
                if ended is _Ended.REDELIVER:
                    continue  # the redelivery delay has passed already
                if ended is _Ended.UNAUTHORIZED:
                    self._tokens.invalidate()
                if self._clock() - started >= self._settings.backoff_reset_after_seconds:
                    self.backoff.reset()
                delay = self.backoff.next_delay()
                logger.info("reconnecting to Nexus in %.2f s (attempt %d)", delay, self.backoff.attempt)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), delay)
        finally:
            self._cancel_redelivery()
        await drain()  # a no-op when the session drained before closing

    async def _session(
        self, token: str, stopping: asyncio.Event, drain: Callable[[], Awaitable[None]]
    ) -> _Ended:
        try:
            ws = await _unless_stopping(
                connect(
                    self._settings.connect_url,
                    additional_headers={"Authorization": f"Bearer {token}"},
                    subprotocols=[Subprotocol(SUBPROTOCOL)],
                    # Liveness is the protocol's HEARTBEAT (Nexus tracks presence by it), not WebSocket pings.
                    ping_interval=None,
                    open_timeout=10,
                    close_timeout=min(5.0, self._settings.heartbeat_seconds),
                    logger=_WithoutDebug(logging.getLogger("websockets.client"), {}),
                ),
                stopping,
            )
        except InvalidStatus as e:
            status = e.response.status_code
            logger.warning("Nexus refused the WebSocket upgrade with HTTP %d", status)
            return _Ended.UNAUTHORIZED if status == 401 else _Ended.LOST
        except (OSError, TimeoutError, InvalidHandshake) as e:
            logger.warning("could not connect to Nexus at %s: %s", self._settings.connect_url, e)
            return _Ended.LOST
        if ws is None:
            return _Ended.STOPPED
        tasks: list[asyncio.Task[object]] = []
        try:
            await ws.send(RegisterFrame(data=self._register).model_dump_json())
            self._ws = ws
            self._last_heartbeat_sent = self._clock()  # REGISTER proves liveness as well as a heartbeat
            self.sessions += 1
            self.registered.set()
            self._cancel_redelivery()
            logger.info("connected to Nexus and registered")
            await self._flush_acks()
            reader = asyncio.create_task(self._read(ws))
            stop_wait = asyncio.create_task(stopping.wait())
            redeliver_wait = asyncio.create_task(self._redeliver.wait())
            tasks = [reader, stop_wait, redeliver_wait, asyncio.create_task(self._send_heartbeats(ws))]
            await asyncio.wait([reader, stop_wait, redeliver_wait], return_when=asyncio.FIRST_COMPLETED)
            if redeliver_wait.done() and not reader.done() and not stopping.is_set():
                logger.info("reconnecting so that Nexus redelivers the events whose handlers failed")
                await ws.close(1000, "reconnecting for redelivery")
                return _Ended.REDELIVER
            if not reader.done():  # stopping: read no more, let running handlers finish and ack
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
                await drain()
                await self._flush_acks()
                await ws.close(1000, "agent stopping")
                logger.info("disconnected from Nexus")
                return _Ended.STOPPED
            return self._classify(reader.result())
        except ConnectionClosed as e:
            return self._classify(e)
        finally:
            self.registered.clear()
            self._ws = None
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await ws.close()

    def _classify(self, outcome: object) -> _Ended:
        code = _CLOSE_ABNORMAL
        reason = ""
        if isinstance(outcome, ConnectionClosed) and outcome.rcvd is not None:
            code, reason = outcome.rcvd.code, outcome.rcvd.reason
        elif isinstance(outcome, int):
            code = outcome
        if code == CLOSE_FORBIDDEN:
            raise AgentDisabledError(reason)
        if code == CLOSE_UNAUTHORIZED:
            logger.info("Nexus rejected the access token (close %d); fetching a new one", code)
            return _Ended.UNAUTHORIZED
        if code == CLOSE_POLICY_VIOLATION:
            logger.error("Nexus closed the connection for a policy violation (1008): %s", reason)
        elif code != _CLOSE_SILENT_PEER:
            logger.warning("connection to Nexus lost (close %d%s)", code, f": {reason}" if reason else "")
        return _Ended.LOST

    async def _read(self, ws: ClientConnection) -> object:
        """Read frames until the connection ends; returns the ``ConnectionClosed`` or a close code."""
        silence = 2 * self._settings.heartbeat_seconds
        while True:
            try:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that races a frame.
                async with asyncio.timeout(silence):
                    raw = await ws.recv()
            except TimeoutError:
                logger.warning("Nexus sent nothing for %.1f s; treating the connection as dead", silence)
                await ws.close(_CLOSE_SILENT_PEER, "no heartbeat from Nexus")
                return _CLOSE_SILENT_PEER
            except ConnectionClosed as e:
                return e
            try:
                frame = parse_server_frame(raw)
            except pydantic.ValidationError as e:
                logger.warning("ignored a frame from Nexus that does not match the protocol: %s", _summary(e))
                continue
            if isinstance(frame, HeartbeatFrame):
                # Answer, but at most once a second (or twice an interval), so that two peers that both
                # answer cannot ping-pong, yet a Nexus beating faster than configured here is answered.
                if self._clock() - self._last_heartbeat_sent >= min(
                    1.0, self._settings.heartbeat_seconds / 2
                ):
                    await self._send_heartbeat(ws)
            elif isinstance(frame, ErrorFrame):
                logger.warning("Nexus reported an error: %s (%s)", frame.data.code, frame.data.message)
            else:
                await self._deliver(frame)

    async def _send_heartbeats(self, ws: ClientConnection) -> None:
        interval = self._settings.heartbeat_seconds
        while True:
            await asyncio.sleep(max(0.0, self._last_heartbeat_sent + interval - self._clock()))
            if self._clock() - self._last_heartbeat_sent >= interval:
                await self._send_heartbeat(ws)

    async def _send_heartbeat(self, ws: ClientConnection) -> None:
        self._last_heartbeat_sent = self._clock()
        with contextlib.suppress(ConnectionClosed):
            await ws.send(HeartbeatFrame().model_dump_json())

    async def _flush_acks(self) -> None:
        ws = self._ws
        if ws is None or not self._pending_acks:
            return
        ids = list(self._pending_acks)[:_MAX_ACK_IDS]  # the rest go with the next flush
        try:
            await ws.send(AckFrame(data=Ack(ids=ids)).model_dump_json())
        except ConnectionClosed:
            return  # kept for the next connection
        for event_id in ids:
            self._pending_acks.pop(event_id, None)


# The protocol's bound on one ACK frame (``Ack.ids``).
_MAX_ACK_IDS = 1000


def _summary(error: pydantic.ValidationError) -> str:
    """Where a frame was wrong, without echoing its values (they may be people's messages)."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'frame'}: {err['msg']}" for err in error.errors()
    )


async def _unless_stopping(work: Awaitable[T], stopping: asyncio.Event) -> T | None:
    """The result of ``work``, or ``None`` if stopping came first (a hung Nexus must not delay SIGTERM)."""
    job = asyncio.ensure_future(work)
    stop = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait([job, stop], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
    if job.done():
        return job.result()
    job.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await job
    return None
