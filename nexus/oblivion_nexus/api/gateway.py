"""The agent WebSocket, ``GET /v1/agents/connect``: authenticate, then pump frames both ways.

Sending is the delivery hub's job; this handler authenticates the connection, reads what the agent
sends (REGISTER, ACK, HEARTBEAT), answers malformed frames with an ERROR frame and closes on abuse.
Its state is explicit (``_AgentSession``) and the hub forgets the connection in ``finally``, so
unacked events go to the agent's next connection however this one ends.
"""

from __future__ import annotations

import logging
import time
from collections import deque

import pydantic_core
from fastapi import APIRouter, WebSocket
from pydantic import ValidationError
from starlette.requests import HTTPConnection

from oblivion_agent.protocol import (
    CLOSE_POLICY_VIOLATION,
    CLOSE_TOO_MANY_CONNECTIONS,
    CLOSE_UNAUTHORIZED,
    SUBPROTOCOL,
    AckFrame,
    Error,
    ErrorFrame,
    FrameType,
    RegisterFrame,
    parse_agent_frame,
)
from oblivion_nexus.errors import NexusError
from oblivion_nexus.services.auth.revocation import StandingUnavailable, TokenRevoked, check_standing
from oblivion_nexus.services.auth.tokens import AgentIdentity, TokenError, verify_access_token
from oblivion_nexus.services.gateway.connection import AgentConnection
from oblivion_nexus.services.gateway.hub import DeliveryHub
from oblivion_nexus.settings import NexusSettings
from oblivion_nexus.stores.presence import TooManyConnections

logger = logging.getLogger(__name__)

router = APIRouter()

# More bad frames than this within the window closes the connection with 1008: a confused agent
# gets ten explanations, a hostile one cannot keep Nexus busy parsing garbage.
ABUSE_LIMIT = 10
ABUSE_WINDOW_SECONDS = 60.0
CLOSE_PROTOCOL_ERROR = 1002  # the client offered subprotocols, none of them ours
CLOSE_TRY_AGAIN = 1013  # "try again later": Redis or PostgreSQL failed us, not the agent
_AGENT_FRAME_TYPES = {FrameType.REGISTER, FrameType.ACK, FrameType.HEARTBEAT}
# What of an agent's own input an ERROR frame repeats back to it: enough to recognise, never a flood.
_MAX_ECHOED_CHARS = 64


def delivery_hub(conn: HTTPConnection) -> DeliveryHub:
    """The hub the app lifespan put on ``app.state.delivery``."""
    hub: DeliveryHub | None = getattr(conn.app.state, "delivery", None)
    if hub is None:
        raise RuntimeError("agent delivery is not running: the app lifespan must set app.state.delivery")
    return hub


def _settings(conn: HTTPConnection) -> NexusSettings:
    settings: NexusSettings = conn.app.state.resources.settings
    return settings


def bearer_token(websocket: WebSocket) -> str | None:
    """The token from ``Authorization: Bearer`` or, for clients that cannot set headers, the query."""
    scheme, _, token = websocket.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return websocket.query_params.get("access_token") or None


@router.websocket("/v1/agents/connect")
async def agent_connect(websocket: WebSocket) -> None:
    offered = websocket.scope.get("subprotocols") or []
    if offered and SUBPROTOCOL not in offered:
        await websocket.close(CLOSE_PROTOCOL_ERROR, f"subprotocol {SUBPROTOCOL} is required")
        return
    await websocket.accept(subprotocol=SUBPROTOCOL if offered else None)
    hub = delivery_hub(websocket)
    identity = await _authenticate(websocket, hub)
    if identity is None:
        return
    try:
        conn = await hub.open(
            identity.workgroup,
            identity.agent,
            websocket,
            identity.expires_at,
            agent_id=identity.agent_id,
            generation=identity.generation,
        )
    except TooManyConnections as e:
        logger.warning("refused a connection: %s", e)
        await websocket.close(CLOSE_TOO_MANY_CONNECTIONS, "too many open connections for this agent")
        return
    except NexusError as e:
        logger.warning("could not open a connection for %s/%s: %s", identity.workgroup, identity.agent, e)
        await websocket.close(CLOSE_TRY_AGAIN, "Nexus cannot reach its store; reconnect")
        return
    session = _AgentSession(websocket, hub, conn)
    try:
        await session.run()
    except NexusError as e:  # the agent reconnects; what it had not acked is redelivered then
        logger.warning("closing %s: %s", conn.id, e)
        await hub.close(conn, CLOSE_TRY_AGAIN, "Nexus cannot reach its store; reconnect")
    finally:
        await hub.close(conn)


async def _authenticate(websocket: WebSocket, hub: DeliveryHub) -> AgentIdentity | None:
    """Verify the token and that its agent may connect; close with 4401 (a bad or revoked token) or
    4403 (the agent is disabled, deleted or unknown) otherwise."""
    token = bearer_token(websocket)
    if token is None:
        await websocket.close(CLOSE_UNAUTHORIZED, "an access token is required")
        return None
    try:
        identity = verify_access_token(_settings(websocket), token)
    except TokenError as e:
        logger.info("refused an agent connection: %s", e.reason)
        await websocket.close(CLOSE_UNAUTHORIZED, e.reason)
        return None
    try:
        await check_standing(websocket.app.state.resources, identity, hub)
    except StandingUnavailable as e:  # PostgreSQL is down or failing: the agent should come back later
        logger.warning("%s", e)
        await websocket.close(CLOSE_TRY_AGAIN, "Nexus cannot reach its registry; reconnect")
        return None
    except TokenRevoked as e:
        logger.info("refused agent %s/%s: %s", identity.workgroup, identity.agent, e.reason)
        await websocket.close(e.close_code, e.reason)
        return None
    return identity


class _AgentSession:
    """What one connection has said so far, and how it misbehaved."""

    def __init__(self, websocket: WebSocket, hub: DeliveryHub, conn: AgentConnection) -> None:
        self.websocket = websocket
        self.hub = hub
        self.conn = conn
        self.registered = False
        self.bad_frames: deque[float] = deque()

    async def run(self) -> None:
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            self.hub.heard(self.conn)
            raw = message.get("text")
            if raw is None:
                raw = (message.get("bytes") or b"").decode("utf-8", errors="replace")
            if not await self.handle(raw):
                return

    async def handle(self, raw: str) -> bool:
        """Act on one frame; False when the connection was closed for abuse."""
        try:
            frame = parse_agent_frame(raw)
        except ValidationError as e:
            return await self.reject(raw, e)
        if isinstance(frame, AckFrame):
            await self.hub.ack(self.conn, frame.data.ids)
        elif isinstance(frame, RegisterFrame):
            self.registered = True
            await self.hub.register(self.conn, frame.data.capabilities, frame.data.runtime_version)
        return True  # HEARTBEAT: being heard is all it does

    async def reject(self, raw: str, error: ValidationError) -> bool:
        code, message, frame_id = _diagnose(raw, error)
        self.hub.metrics.rejected_frames.inc()
        now = time.monotonic()
        self.bad_frames.append(now)
        while self.bad_frames and now - self.bad_frames[0] > ABUSE_WINDOW_SECONDS:
            self.bad_frames.popleft()
        if len(self.bad_frames) > ABUSE_LIMIT:
            logger.warning("closing %s: %d bad frames within a minute", self.conn.id, len(self.bad_frames))
            await self.hub.close(self.conn, CLOSE_POLICY_VIOLATION, "too many malformed frames")
            return False
        reply = ErrorFrame(data=Error(code=code, message=message, frame_id=frame_id))
        try:
            async with self.conn.send_lock:
                await self.websocket.send_text(reply.model_dump_json())
        except Exception:  # the peer is gone; the receive loop will see the disconnect
            logger.debug("could not send an ERROR frame to %s", self.conn.id)
        return True


def _diagnose(raw: str, error: ValidationError) -> tuple[str, str, str | None]:
    """Explain a rejected frame: (code, message, the frame's id if it had one)."""
    try:  # pydantic's parser: bounded recursion, so deep nesting is an error rather than a crash
        body = pydantic_core.from_json(raw)
    except ValueError:
        return "malformed_frame", "a frame must be one JSON object {type, id, ts, data}", None
    if not isinstance(body, dict):
        return "malformed_frame", "a frame must be one JSON object {type, id, ts, data}", None
    frame_id = body.get("id") if isinstance(body.get("id"), str) else None
    frame_id = frame_id[:_MAX_ECHOED_CHARS] if frame_id is not None else None
    kind = body.get("type")
    if kind not in {str(t) for t in _AGENT_FRAME_TYPES}:
        allowed = ", ".join(sorted(str(t) for t in _AGENT_FRAME_TYPES))
        return "unknown_type", f"agents may send {allowed}, not {_shortened(kind)}", frame_id
    problems = "; ".join(
        f"{'.'.join(str(p) for p in err['loc'][1:]) or 'frame'}: {err['msg']}" for err in error.errors()[:5]
    )
    return "invalid_frame", f"{kind} frame is invalid: {problems}", frame_id


def _shortened(value: object) -> str:
    """``repr(value)``, cut so that an agent's garbage is never echoed or logged at length."""
    text = repr(value)
    return text if len(text) <= _MAX_ECHOED_CHARS else text[: _MAX_ECHOED_CHARS - 1] + "…"
