"""What an agent may call with which credential, read from PostgreSQL once per registry change rather
than on every call.

An agent's grants are its ``tools`` entries and its workgroup's credentials (their rules, their
configuration and their sealed values). :class:`GrantsCache` keeps them in process memory under the
workgroup's version (:mod:`oblivion_nexus.stores.tool_grants`), which the gateway reads in the same
Redis round trip as the agent's rate limit; the registry publishes a new version after every change
it commits (:func:`grants_changed`), so a narrowed or deleted credential, or an agent's narrowed
``tools``, refuses the next call on every replica. Entries also expire after
:data:`GRANTS_TTL_SECONDS`, which bounds how long a version lost to a Redis failure can go unseen.

Credential values stay sealed in the cache: the AES-GCM ciphertext is kept and opened for each call
(microseconds), so a plaintext secret lives only as long as the call that uses it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from oblivion_nexus.resources import Resources
from oblivion_nexus.services.registry.entries import RegistryError
from oblivion_nexus.services.tools.policy import AgentTool, Caller, CredentialGrant
from oblivion_nexus.stores import tables as t
from oblivion_nexus.stores.crypto import SealedValue
from oblivion_nexus.stores.tool_grants import ToolGrantsError, publish_version

# Changes reach the cache through the version at once; this only heals a version write lost to Redis.
GRANTS_TTL_SECONDS = 30.0
# One entry per agent that called recently; past this many, expired entries are dropped first.
MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class Grants:
    caller: Caller
    credentials: dict[str, CredentialGrant]
    configs: dict[str, dict[str, Any]]
    sealed: dict[str, SealedValue]


async def load_grants(session: AsyncSession, workgroup: str, agent: str, agent_id: int) -> Grants:
    """The agent's tool entries (none once it is deleted) and its workgroup's credentials, now."""
    tools = (await session.execute(select(t.Agent.tools).where(t.Agent.id == agent_id))).scalar_one_or_none()
    rows = (await session.execute(select(t.Credential).where(t.Credential.workgroup == workgroup))).scalars()
    credentials, configs, sealed = {}, {}, {}
    for row in rows:
        credentials[row.name] = CredentialGrant(
            name=row.name,
            workgroup=row.workgroup,
            type=row.type,
            allowed_actions=tuple(row.allowed_actions),
            agents=tuple(row.agents),
            approval_actions=tuple((row.approval or {}).get("actions") or ()),
        )
        configs[row.name] = dict(row.config or {})
        sealed[row.name] = SealedValue(row.ciphertext, row.nonce, row.key_id)
    entries = tuple(
        AgentTool(
            entry.get("credential"),
            tuple(entry["actions"]) if entry.get("actions") is not None else None,
            entry.get("builtin"),
        )
        for entry in tools or ()
    )
    return Grants(Caller(workgroup, agent, entries), credentials, configs, sealed)


@dataclass(frozen=True)
class _Entry:
    version: str
    loaded: float
    grants: Grants


class GrantsCache:
    """One per process; `get` answers from memory while the workgroup's version is unchanged."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        ttl_seconds: float = GRANTS_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._ttl = ttl_seconds
        self._clock = clock
        self._entries: dict[tuple[str, str, int], _Entry] = {}

    async def get(self, workgroup: str, agent: str, agent_id: int, version: str) -> Grants:
        """The agent's grants as of `version`, which the caller read before calling."""
        key = (workgroup, agent, agent_id)
        now = self._clock()
        entry = self._entries.get(key)
        if entry is not None and entry.version == version and now - entry.loaded < self._ttl:
            return entry.grants
        async with self._sessionmaker() as session:
            grants = await load_grants(session, workgroup, agent, agent_id)
        if len(self._entries) >= MAX_ENTRIES:
            self._drop_expired(now)
        self._entries[key] = _Entry(version, now, grants)
        return grants

    def forget(self, workgroup: str, agent: str, agent_id: int) -> None:
        """Drop the agent's entry (its sealed value no longer opens: the master key changed)."""
        self._entries.pop((workgroup, agent, agent_id), None)

    def _drop_expired(self, now: float) -> None:
        for key in [k for k, e in self._entries.items() if now - e.loaded >= self._ttl]:
            del self._entries[key]
        while len(self._entries) >= MAX_ENTRIES:  # all fresh: drop the oldest loaded
            del self._entries[next(iter(self._entries))]


async def grants_changed(resources: Resources, workgroup: str) -> None:
    """Make a committed change to the workgroup's credentials or agents effective on every replica.

    Raises a RegistryError (503) when Redis refused; repeating the request writes the version again.
    """
    try:
        await publish_version(resources.redis, resources.settings.redis.prefix, workgroup)
    except ToolGrantsError as e:
        message = "the change is saved but the tool grants could not be refreshed; retry"
        raise RegistryError(message, status=503) from e
