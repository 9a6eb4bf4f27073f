"""An agent framework's own MCP client reaches the Tool Gateway at /mcp: LangChain's MCP adapter
(``langchain-mcp-adapters``, on the ``mcp`` SDK 1.x and the ``initialize`` handshake) loads the agent's
tools with its bearer token, runs them as LangChain tools, and gets a refusal as the adapter's error.

The adapter runs as the agent would, in its own process and virtualenv (``make mcp-adapters-env``,
built here when missing): it cannot share Nexus's, which runs the ``mcp`` SDK 2.x.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.tool_gateway import REPO, ToolWorld

REPO_ROOT = Path(__file__).parents[3]
ADAPTER_ENV = REPO_ROOT / ".cache" / "mcp-adapters"
AGENT_SCRIPT = Path(__file__).with_name("langchain_mcp_agent.py")
# A cold build downloads about 60 packages (35 s here); either test may be the one that builds it.
BUILD_SECONDS = 600
ANSWER_SECONDS = 30
pytestmark = pytest.mark.timeout(BUILD_SECONDS + 120)


@pytest.fixture(scope="session")
def adapter_python() -> Path:
    """The adapter's virtualenv, made by ``make mcp-adapters-env`` if missing or older than its lock."""
    built = subprocess.run(
        ["make", "--no-print-directory", "mcp-adapters-env"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=BUILD_SECONDS,
        check=False,
    )
    assert built.returncode == 0, f"make mcp-adapters-env failed:\n{built.stdout}{built.stderr}"
    return ADAPTER_ENV / "bin" / "python"


class AdapterAgent:
    """One MCP session of the LangChain adapter, driven line by line."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.tools: dict[str, dict[str, Any]] = {}
        self.protocol_version = ""

    async def _answer(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), ANSWER_SECONDS)
        if not line:
            assert self.process.stderr is not None
            raise AssertionError(f"the adapter exited: {(await self.process.stderr.read()).decode()[-3000:]}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def start(self) -> None:
        started = await self._answer()
        self.protocol_version = started["protocolVersion"]
        self.tools = {tool["name"]: tool for tool in started["tools"]}

    async def call(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        """The ``ToolMessage`` the adapter made of the call: status, content, artifact."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"name": name, "args": args}).encode() + b"\n")
        await self.process.stdin.drain()
        return await self._answer()


@asynccontextmanager
async def adapter_agent(
    python: Path, world: ToolWorld, agent: httpx.AsyncClient
) -> AsyncIterator[AdapterAgent]:
    token = agent.headers["authorization"].removeprefix("Bearer ")
    process = await asyncio.create_subprocess_exec(
        str(python),
        str(AGENT_SCRIPT),
        world.nexus.url + "/mcp",
        token,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={"PATH": "/usr/bin:/bin"},
    )
    session = AdapterAgent(process)
    try:
        await session.start()
        yield session
    finally:
        if process.returncode is None:
            assert process.stdin is not None
            process.stdin.write(b"\n")
            try:
                await asyncio.wait_for(process.wait(), ANSWER_SECONDS)
            except TimeoutError:
                process.kill()
                await process.wait()


def text_of(message: dict[str, Any]) -> str:
    content = message["content"]
    if isinstance(content, str):
        return content
    return "".join(block.get("text", "") for block in content if isinstance(block, dict))


async def test_the_langchain_adapter_loads_the_agents_tools_and_runs_one_through_the_gateway(
    world: ToolWorld, adapter_python: Path
) -> None:
    bot = await world.agent("backend-bot", [{"credential": "github", "actions": ["issues.*"]}])
    listed = (await bot.get("/v1/tools")).json()["tools"]
    async with adapter_agent(adapter_python, world, bot) as agent:
        created = await agent.call(
            "github.issues.create", {"owner": "acme", "repo": "api", "title": "Flaky deploy"}
        )
        searched = await agent.call("memory_search", {"query": "flaky deploy"})

    assert agent.protocol_version == "2025-11-25"  # the mcp SDK 1.x's initialize handshake
    expected = {f"github.{t['action']}" for t in listed if t["tool"] == "github"}
    assert set(agent.tools) == expected | {"memory_search"}
    for entry in listed:
        assert agent.tools[f"github.{entry['action']}"]["schema"] == entry["argsSchema"]
    assert agent.tools["memory_search"]["schema"]["required"] == ["query"]

    assert created["status"] == "success", created
    issue = json.loads(text_of(created))
    assert world.github.issue(REPO, issue["number"])["title"] == "Flaky deploy"
    assert created["artifact"]["structured_content"]["status"] == "ok"
    assert world.github.token not in json.dumps(created)
    assert searched["status"] == "success", searched
    assert searched["artifact"]["structured_content"]["hits"] == []


async def test_a_call_the_gateway_refuses_is_the_adapters_tool_error(
    world: ToolWorld, adapter_python: Path
) -> None:
    bot = await world.agent("backend-bot", [{"credential": "github", "actions": ["issues.*"]}])
    async with adapter_agent(adapter_python, world, bot) as agent:
        malformed = await agent.call("github.issues.get", {"owner": "acme"})
        # The agent loaded its tools at start; then an admin narrows the credential.
        await world.credential(
            "github",
            type="github",
            value=world.github.token,
            allowedActions=["repos.*"],
            config={"baseUrl": world.github.url},
        )
        refused = await agent.call(
            "github.issues.create", {"owner": "acme", "repo": "api", "title": "Not any more"}
        )

    assert (refused["status"], malformed["status"]) == ("error", "error"), (refused, malformed)
    # The model reads the gateway's answer: the status and the rule that refused the call.
    denial = json.loads(text_of(refused))
    assert denial["httpStatus"] == 403
    assert denial["detail"]["rule"] == "credential 'github' does not allow 'issues.create'"
    assert json.loads(text_of(malformed))["httpStatus"] == 422
    assert not [c for c in world.github.calls if c.method == "POST"]
