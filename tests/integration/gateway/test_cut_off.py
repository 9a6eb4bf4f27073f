"""Disabling or deleting an agent (or its workgroup) in the registry ends its open connections with
4403 on every replica, at once rather than when their tokens expire."""

from __future__ import annotations

import pytest
from websockets.exceptions import ConnectionClosed

from tests.support.gateway import WORKGROUP, agent_token, connect_agent, next_event, presence, register_agent
from tests.support.waiting import eventually


async def _closed_with(ws) -> tuple[int, str]:
    with pytest.raises(ConnectionClosed) as closed:
        await next_event(ws, timeout=5)  # heartbeats come every 30 s: nothing else closes it
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def _connected(nexus, agent: str) -> None:
    async def seen() -> bool:
        return bool((await presence(nexus, agent))["connected"])

    await eventually(seen, what=f"{agent} in presence")


async def test_disabling_an_agent_on_one_replica_closes_its_connection_on_another(nexus_factory) -> None:
    east, west = await nexus_factory(), await nexus_factory()
    await register_agent(east, "coder")
    await register_agent(east, "reviewer")
    coder = await connect_agent(west, agent_token(west, "coder"))
    reviewer = await connect_agent(west, agent_token(west, "reviewer"))
    await _connected(east, "coder")
    try:
        await register_agent(east, "coder", disabled=True)

        assert await _closed_with(coder) == (4403, "agent is disabled")
        assert (await presence(east, "coder"))["connected"] is False
        assert (await presence(east, "reviewer"))["connected"] is True  # the other agent keeps its own
        # And it cannot come back while disabled.
        assert await _closed_with(await connect_agent(west, agent_token(west, "coder"))) == (
            4403,
            "agent is disabled",
        )
    finally:
        await reviewer.close()


@pytest.mark.parametrize(
    ("path", "reason"),
    [("/agents/coder", "agent was deleted"), ("", "workgroup was deleted")],
    ids=["agent", "workgroup"],
)
async def test_deleting_an_agent_or_its_workgroup_closes_its_connection(
    nexus, path: str, reason: str
) -> None:
    await register_agent(nexus, "coder")
    ws = await connect_agent(nexus, agent_token(nexus, "coder"))
    await _connected(nexus, "coder")
    async with nexus.admin() as admin:
        r = await admin.delete(f"/internal/v1/workgroups/{WORKGROUP}{path}")
    assert r.status_code == 204, r.text
    assert await _closed_with(ws) == (4403, reason)
