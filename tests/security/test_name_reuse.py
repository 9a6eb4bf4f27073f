"""A name re-used after a deletion starts empty: nothing of the old tenant reaches the new one.

The attack: delete workgroup ``rival``, re-create it with an agent ``rbot`` of the same name but new
credentials ("a different team"), and see what the new agent inherits. It must inherit nothing: no
pending event, no presence, no idempotency key, no mute — and no Redis key of the old agent may be
left behind at all.
"""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import redis.asyncio as aioredis
from websockets.asyncio.client import ClientConnection

from oblivion_nexus.services.safeguards.circuit_breaker import MessageBreaker
from oblivion_nexus.services.safeguards.idempotency import IdempotencyStore, idempotency_scope
from tests.support.gateway import NexusReplica, connect_agent, next_event, registry_identity
from tests.support.waiting import eventually

RIVAL = "rival"


async def register_rbot(nexus: NexusReplica) -> str:
    """(Re-)create workgroup ``rival`` and its agent ``rbot`` with new credentials; answer a token."""
    client_secret = secrets.token_urlsafe(24)
    client_id = f"rbot-{secrets.token_hex(4)}"
    nexus.secrets.add(client_secret)
    async with nexus.admin() as admin:
        r = await admin.put(f"/internal/v1/workgroups/{RIVAL}", json={"displayName": "Rival squad"})
        assert r.status_code in (200, 201), r.text
        body = {"clientId": client_id, "clientSecret": client_secret, "aliases": ["ai-rbot"]}
        r = await admin.put(f"/internal/v1/workgroups/{RIVAL}/agents/rbot", json=body)
        assert r.status_code in (200, 201), r.text
    async with httpx.AsyncClient(base_url=nexus.url) as client:
        r = await client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret},
        )
    assert r.status_code == 200, r.text
    token = str(r.json()["access_token"])
    nexus.secrets.add(token)
    return token


async def assign_task(nexus: NexusReplica, title: str) -> str:
    async with nexus.admin() as admin:
        r = await admin.post(
            f"/internal/v1/workgroups/{RIVAL}/agents/rbot/events",
            json={
                "type": "TASK_ASSIGNED",
                "data": {
                    "task_id": "86c0ffee",
                    "project": "launch",
                    "title": title,
                    "description": "secret plan",
                },
            },
        )
    assert r.status_code == 202, r.text
    return str(r.json()["id"])


async def rbot_presence(nexus: NexusReplica) -> dict[str, Any]:
    async with nexus.admin() as admin:
        r = await admin.get(f"/internal/v1/workgroups/{RIVAL}/agents/rbot/presence")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def delete_rival(nexus: NexusReplica) -> None:
    async with nexus.admin() as admin:
        assert (await admin.delete(f"/internal/v1/workgroups/{RIVAL}")).status_code == 204


async def rbot_keys(redis: aioredis.Redis, prefix: str) -> list[str]:
    keys = [key.decode() async for key in redis.scan_iter(match=f"{prefix}:*", count=1000)]
    return sorted(key for key in keys if f":{RIVAL}:" in key)


async def test_a_recreated_agent_never_receives_the_old_tenants_pending_task(nexus: NexusReplica) -> None:
    await register_rbot(nexus)
    await assign_task(nexus, "Old tenant's confidential task")  # rbot is offline: it waits in the inbox
    await delete_rival(nexus)

    token = await register_rbot(nexus)
    assert (await rbot_presence(nexus))["pendingEvents"] == 0
    ws = await connect_agent(nexus, token)
    try:
        fresh = await assign_task(nexus, "New tenant's first task")
        frame = await next_event(ws)
        assert (frame.id, frame.data.title) == (fresh, "New tenant's first task")
    finally:
        await ws.close()


async def test_a_recreated_agent_shows_no_last_seen_of_the_old_one(nexus: NexusReplica) -> None:
    old: ClientConnection = await connect_agent(nexus, await register_rbot(nexus))

    async def seen() -> bool:
        return (await rbot_presence(nexus))["lastSeen"] is not None

    await eventually(seen, what="the old rbot's last-seen time")
    await delete_rival(nexus)  # while the old rbot is still connected
    await old.wait_closed()

    await register_rbot(nexus)
    presence = await rbot_presence(nexus)
    assert (presence["connected"], presence["lastSeen"], presence["pendingEvents"]) == (False, None, 0)


async def test_deleting_a_workgroup_leaves_no_redis_key_of_its_agents_and_the_new_agent_is_not_muted(
    nexus: NexusReplica, redis_url: str
) -> None:
    await register_rbot(nexus)
    await assign_task(nexus, "pending")
    prefix = nexus.settings.redis.prefix
    redis = aioredis.Redis.from_url(redis_url)
    try:
        agent_id, _generation = await registry_identity(nexus, "rbot", RIVAL)
        # A muted rbot with a replayable answer, as its own REST calls would have left them.
        breaker = MessageBreaker(redis, prefix, cooldown_seconds=300)
        for _ in range(2):
            await breaker.admit(RIVAL, "rbot", limit_per_minute=1)
        idempotency = IdempotencyStore(redis, prefix, ttl_seconds=3600)
        await idempotency.claim(idempotency_scope(RIVAL, agent_id), "retry-1", "fingerprint")
        assert any(":breaker:" in key for key in await rbot_keys(redis, prefix))

        await delete_rival(nexus)

        leftovers = await rbot_keys(redis, prefix)
        leftovers += [key.decode() async for key in redis.scan_iter(match=f"{prefix}:idem:{RIVAL}:*")]
        assert leftovers == []
        await register_rbot(nexus)
        assert (await breaker.admit(RIVAL, "rbot", limit_per_minute=1)).admitted
    finally:
        await redis.aclose()
