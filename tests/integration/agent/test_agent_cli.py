"""``oblivion agent run`` as a process, the way an agent's pod runs it, against the real Nexus."""

from __future__ import annotations

import asyncio
import os
import signal
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from tests.secret_logs import SecretRegistry
from tests.support.agent_runtime import RuntimeAgent
from tests.support.processes import oblivion_executable
from tests.support.waiting import eventually

REPO_ROOT = Path(__file__).parents[3]


async def test_the_echo_example_runs_as_a_process_handles_a_task_and_exits_0_on_sigterm(
    register_agent: Callable[..., Awaitable[RuntimeAgent]], secret_registry: SecretRegistry
) -> None:
    registered = await register_agent("echo")
    base = {k: v for k, v in os.environ.items() if not k.startswith("OBLIVION_")}
    with tempfile.NamedTemporaryFile(prefix="agent-", suffix=".log", delete=False) as log:
        log_path = Path(log.name)
    secret_registry.add_log_file(log_path)
    with log_path.open("wb") as log_file:
        process = await asyncio.create_subprocess_exec(
            oblivion_executable(),
            "agent",
            "run",
            "examples.agents.echo:agent",
            "--log-level",
            "DEBUG",
            cwd=REPO_ROOT,
            env={**base, **registered.env()},
            stdout=log_file,
            stderr=asyncio.subprocess.STDOUT,
        )
    try:

        async def connected() -> bool:
            if process.returncode is not None:
                raise AssertionError(f"the agent exited with {process.returncode}:\n{log_path.read_text()}")
            return bool((await registered.presence())["connected"])

        await eventually(connected, timeout=30, what="the agent process to connect")
        task = {"task_id": "86a1b2c3", "project": "payments", "title": "Rotate the signing key"}
        await registered.queue("TASK_ASSIGNED", task)

        async def acked() -> bool:
            return (await registered.presence())["pendingEvents"] == 0

        await eventually(acked, what="the event to be handled and acked", timeout=15)
        assert "task 86a1b2c3 assigned: Rotate the signing key" in log_path.read_text()

        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 20) == 0, log_path.read_text()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    output = log_path.read_text()
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
