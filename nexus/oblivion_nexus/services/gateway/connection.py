"""One agent connection as this replica keeps it: the transport end and the delivery state."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from oblivion_nexus.stores.presence import AgentConnectionRecord


class AgentLink(Protocol):
    """The transport end of one agent connection (a Starlette ``WebSocket`` is one)."""

    async def send_text(self, data: str) -> None: ...

    async def close(self, code: int = 1000, reason: str | None = None) -> None: ...


@dataclass(eq=False)
class AgentConnection:
    """One open agent connection on this replica."""

    id: str
    workgroup: str
    agent: str
    link: AgentLink
    connected_at: datetime
    last_heard: float = field(default_factory=time.monotonic)
    heard_unrecorded: bool = False
    token_expires_at: float = float("inf")  # epoch seconds; the connection ends with its token
    agent_id: int = 0  # the registry id and credential generation of the token it was opened with
    generation: int = 0
    timers: dict[str, asyncio.TimerHandle] = field(default_factory=dict)  # see ConnectionKeeper
    in_flight: set[str] = field(default_factory=set)
    acked_while_claiming: set[str] | None = None  # a set while a claim for this connection is out
    closed: bool = False
    send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def record(self, capabilities: tuple[str, ...] = (), runtime_version: str = "") -> AgentConnectionRecord:
        return AgentConnectionRecord(
            connection_id=self.id,
            replica=self.id.rpartition("/")[0],
            connected_at=self.connected_at.isoformat(),
            capabilities=capabilities,
            runtime_version=runtime_version,
        )
