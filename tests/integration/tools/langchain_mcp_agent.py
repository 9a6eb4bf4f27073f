"""An agent's side of an MCP session through LangChain's MCP adapter (``langchain-mcp-adapters``).

Runs in its own virtualenv (``make mcp-adapters-env``: the adapter needs the ``mcp`` SDK 1.x, Nexus
runs 2.x), so it imports nothing of Oblivion. ``python langchain_mcp_agent.py URL TOKEN`` opens one
session to Nexus's ``/mcp`` with the agent's bearer token, loads the tools as LangChain tools and
prints them, with the protocol revision agreed, as one JSON line; then for each JSON line
``{"name": ..., "args": {...}}`` on stdin it runs that tool as an agent loop does (a tool call,
answered by a ``ToolMessage``) and prints the message as one JSON line. An empty line ends the
session.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from langchain_core.messages import ToolMessage
from langchain_mcp_adapters.client import MultiServerMCPClient
from langchain_mcp_adapters.tools import load_mcp_tools


def say(value: Any) -> None:
    sys.stdout.write(json.dumps(value, default=str) + "\n")
    sys.stdout.flush()


def schema_of(tool: Any) -> Any:
    schema = tool.args_schema
    return schema if isinstance(schema, dict) else schema.model_json_schema()


async def main(url: str, token: str) -> None:
    client = MultiServerMCPClient(
        {
            "nexus": {
                "transport": "streamable_http",
                "url": url,
                "headers": {"Authorization": f"Bearer {token}"},
            }
        }
    )
    async with client.session("nexus", auto_initialize=False) as session:
        initialized = await session.initialize()
        tools = {tool.name: tool for tool in await load_mcp_tools(session)}
        listed = [{"name": n, "description": t.description, "schema": schema_of(t)} for n, t in tools.items()]
        say({"protocolVersion": initialized.protocolVersion, "tools": listed})
        calls = 0
        while (line := await asyncio.to_thread(sys.stdin.readline)).strip():
            calls += 1
            request = json.loads(line)
            name, args = request["name"], request["args"]
            call = {"type": "tool_call", "id": f"call-{calls}", "name": name, "args": args}
            message = await tools[name].ainvoke(call)
            assert isinstance(message, ToolMessage)
            say({"status": message.status, "content": message.content, "artifact": message.artifact})


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
