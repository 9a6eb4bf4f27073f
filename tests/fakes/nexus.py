"""A local fake of Nexus's agent-facing side: the OAuth2 token endpoint and the WebSocket gateway.

It speaks the real contract (RFC 6749 client credentials with Basic auth, subprotocol ``oblivion.v1``,
REGISTER first, an inbox redelivered in order until acked, close codes 4401/4403) so the SDK's
behaviour can be tested without PostgreSQL and Redis; the integration tests use the real Nexus.
Knobs let a test make it reject tokens, disable the agent, go silent or drop connections.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from aiohttp import WSMsgType, web
from pydantic import SecretStr

from oblivion_agent import AgentSettings
from oblivion_agent.protocol import (
    SUBPROTOCOL,
    EventFrame,
    HeartbeatFrame,
    make_event,
)

CLIENT_ID = "wg-backend/ai-backend"
# Characters that RFC 6749 §2.3.1 form-encoding changes, to prove the SDK encodes before Basic auth.
CLIENT_SECRET = "s3cr:et+/=" + secrets.token_urlsafe(16)


@dataclass
class Session:
    """One WebSocket connection as the fake saw it."""

    token: str
    ws: web.WebSocketResponse
    received: list[dict[str, Any]] = field(default_factory=list)
    close_code: int | None = None  # the code the agent closed with, if it did
    registered: bool = False


class FakeNexus:
    def __init__(self, client_id: str, client_secret: str, *, expires_in: float = 900) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.expires_in = expires_in
        self.token_requests: list[dict[str, Any]] = []
        self.issued: list[str] = []
        self.revoked: set[str] = set()
        self.disabled = False
        self.silent = False  # send nothing at all: no events, no heartbeats
        self.heartbeat_seconds: float | None = None  # send HEARTBEAT this often when set
        self.drop_after_register = False  # close every connection (1011) right after its REGISTER
        self.inbox: dict[str, EventFrame] = {}  # unacked events, in queueing order
        self.sessions: list[Session] = []
        self.rejected_connections = 0
        self._counter = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.url = ""

    # -- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/oauth/token", self._token)
        app.router.add_get("/v1/agents/connect", self._connect)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        for session in self.sessions:
            await session.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- what tests do ----------------------------------------------------------------------------

    async def queue(self, type_: str, data: dict[str, Any], frame_id: str | None = None) -> str:
        """Queue an event; it goes out now on the open connection, and again after every reconnect."""
        frame = make_event(type_, data, frame_id)
        self.inbox[frame.id] = frame
        live = self.live_session
        if live is not None and not self.silent:
            await live.ws.send_str(frame.model_dump_json())
        return frame.id

    async def send_raw(self, text: str) -> None:
        assert self.live_session is not None
        await self.live_session.ws.send_str(text)

    async def drop_connection(self, code: int = 1001, message: str = "") -> None:
        assert self.live_session is not None
        await self.live_session.ws.close(code=code, message=message.encode())

    @property
    def live_session(self) -> Session | None:
        """The newest open connection that sent REGISTER."""
        for session in reversed(self.sessions):
            if session.registered and not session.ws.closed:
                return session
        return None

    def frames_of(self, type_: str) -> list[dict[str, Any]]:
        return [f for s in self.sessions for f in s.received if f.get("type") == type_]

    def acked_ids(self) -> list[str]:
        return [i for f in self.frames_of("ACK") for i in f["data"]["ids"]]

    # -- the OAuth2 token endpoint ----------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        header = request.headers.get("Authorization", "")
        self.token_requests.append({"form": dict(form), "authorization": header})
        if form.get("grant_type") != "client_credentials":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        client_id = client_secret = None
        if header.startswith("Basic "):
            decoded = base64.b64decode(header[6:]).decode()
            raw_id, _, raw_secret = decoded.partition(":")
            client_id, client_secret = unquote(raw_id), unquote(raw_secret)  # RFC 6749 §2.3.1
        if client_id != self.client_id or client_secret != self.client_secret:
            return web.json_response(
                {"error": "invalid_client"}, status=401, headers={"WWW-Authenticate": 'Basic realm="nexus"'}
            )
        token = f"tok-{next(self._counter)}-{time.monotonic_ns()}"
        self.issued.append(token)
        return web.json_response(
            {"access_token": token, "token_type": "Bearer", "expires_in": self.expires_in}
        )

    # -- the WebSocket gateway --------------------------------------------------------------------

    async def _connect(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(protocols=(SUBPROTOCOL,), autoping=True)
        await ws.prepare(request)
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ")
        if not header.startswith("Bearer ") or token not in self.issued or token in self.revoked:
            self.rejected_connections += 1
            await ws.close(code=4401, message=b"invalid token")
            return ws
        if self.disabled:
            await ws.close(code=4403, message=b"agent disabled")
            return ws
        session = Session(token, ws)
        self.sessions.append(session)
        beats = asyncio.create_task(self._heartbeats(ws)) if self.heartbeat_seconds else None
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                frame = json.loads(msg.data)
                session.received.append(frame)
                if frame["type"] == "REGISTER" and len(session.received) == 1:
                    session.registered = True  # from now on queue() sends to this session directly
                    if self.drop_after_register:
                        await ws.close(code=1011, message=b"flapping")
                        break
                    for event in [] if self.silent else list(self.inbox.values()):  # redeliver in order
                        await ws.send_str(event.model_dump_json())
                elif frame["type"] == "ACK":
                    for event_id in frame["data"]["ids"]:
                        self.inbox.pop(event_id, None)
        finally:
            if beats is not None:
                beats.cancel()
            session.close_code = ws.close_code
        return ws

    async def _heartbeats(self, ws: web.WebSocketResponse) -> None:
        assert self.heartbeat_seconds is not None
        while not ws.closed:
            await asyncio.sleep(self.heartbeat_seconds)
            if not self.silent and not ws.closed:
                await ws.send_str(HeartbeatFrame().model_dump_json())


def make_settings(nexus: FakeNexus, **overrides: Any) -> AgentSettings:
    """Agent settings pointing at ``nexus`` with its credentials and quick backoff, plus ``overrides``."""
    values: dict[str, Any] = {
        "nexus_url": nexus.url,
        "client_id": CLIENT_ID,
        "client_secret": SecretStr(CLIENT_SECRET),
        "backoff_base_seconds": 0.01,
        "backoff_cap_seconds": 0.05,
        "heartbeat_seconds": 5.0,
        "shutdown_grace_seconds": 5.0,
    }
    values.update(overrides)
    return AgentSettings(**values)
