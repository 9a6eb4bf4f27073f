"""``oblivion agent run`` as a process, the way an agent's pod runs it, against the real Nexus."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from tests.secret_logs import SecretRegistry
from tests.support.agent_runtime import RuntimeAgent
from tests.support.processes import agent_process, oblivion_executable
from tests.support.waiting import eventually

REPO_ROOT = Path(__file__).parents[3]


async def test_the_echo_example_runs_as_a_process_handles_a_task_and_exits_0_on_sigterm(
    register_agent: Callable[..., Awaitable[RuntimeAgent]], secret_registry: SecretRegistry
) -> None:
    registered = await register_agent("echo")
    async with agent_process(
        "examples.agents.echo:agent", registered.env(), secret_registry, "--log-level", "DEBUG"
    ) as agent:

        async def connected() -> bool:
            return bool((await registered.presence())["connected"])

        await eventually(connected, timeout=30, what="the agent process to connect", watch=[agent])
        task = {"task_id": "86a1b2c3", "project": "payments", "title": "Rotate the signing key"}
        await registered.queue("TASK_ASSIGNED", task)

        async def acked() -> bool:
            return (await registered.presence())["pendingEvents"] == 0

        await eventually(acked, what="the event to be handled and acked", timeout=15, watch=[agent])
        assert "task 86a1b2c3 assigned: Rotate the signing key" in agent.output()
        assert await agent.terminate(20) == 0, agent.output()
    output = agent.output()
    assert "SIGTERM received; stopping" in output
    assert "disconnected from Nexus" in output
    assert registered.client_secret not in output
    assert "Bearer" not in output  # the access token never reaches the log, even at DEBUG


async def test_the_process_names_missing_settings_and_exits_2(tmp_path: Path) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith("OBLIVION_")}
    process = await asyncio.create_subprocess_exec(
        oblivion_executable(),
        "agent",
        "run",
        "examples.agents.echo:agent",
        cwd=REPO_ROOT,
        env=base,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2
    assert b"OBLIVION_NEXUS_URL: is not set" in out
