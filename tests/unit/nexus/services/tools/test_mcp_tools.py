"""MCP tool names map to the gateway's (tool, credential, action) and back, for every action."""

from __future__ import annotations

import pytest

from oblivion_nexus.services.registry.schemas import BUILTIN_ACTIONS as REGISTRY_BUILTINS
from oblivion_nexus.services.tools.builtin_tools import ACTIONS as BUILTIN_ACTIONS
from oblivion_nexus.services.tools.gateway import ToolError
from oblivion_nexus.services.tools.github_actions import ACTIONS
from oblivion_nexus.services.tools.mcp_tools import (
    TASK_META_KEY,
    UnknownMcpTool,
    input_schema,
    invoke_request,
    mcp_tools,
)


@pytest.mark.parametrize("action", sorted(ACTIONS))
@pytest.mark.parametrize("credential", ["github", "github.enterprise", "gh-issues.get"])
def test_every_listed_github_action_calls_back_to_itself(credential: str, action: str) -> None:
    listing = {
        "tool": "github",
        "credential": credential,
        "action": action,
        "description": "d",
        "approval": False,
        "argsSchema": ACTIONS[action].schema(),
    }
    [tool] = mcp_tools([listing])
    assert tool.name == f"{credential}.{action}"
    request = invoke_request(tool.name, {"owner": "acme"}, None)
    assert (request.tool, request.credential, request.action) == ("github", credential, action)
    assert input_schema(tool.name) == tool.input_schema


def test_an_http_credential_is_one_tool_whose_call_names_method_and_path() -> None:
    listings = [
        {
            "tool": "http",
            "credential": "status-api",
            "action": pattern,
            "description": "d",
            "approval": pattern.startswith("DELETE"),
            "argsSchema": {},
        }
        for pattern in ("GET /status/*", "DELETE /deploys/*")
    ]
    [tool] = mcp_tools(listings)
    assert tool.name == "status-api.request"
    assert tool.input_schema["properties"]["method"]["enum"] == ["DELETE", "GET"]
    assert "approval" in (tool.description or "")
    request = invoke_request(
        "status-api.request",
        {"method": "get", "path": "/status/42", "query": {"v": 1}},
        {TASK_META_KEY: "86b1"},
    )
    assert (request.tool, request.credential, request.action) == ("http", "status-api", "GET /status/42")
    assert dict(request.args) == {"query": {"v": 1}}
    assert request.task_id == "86b1"


@pytest.mark.parametrize("name", ["issues.create", "github.issues.explode", ".request", "github", ""])
def test_a_name_that_is_no_tool_is_unknown(name: str) -> None:
    with pytest.raises(UnknownMcpTool):
        invoke_request(name, {}, None)
    assert input_schema(name) is None


def test_an_http_call_without_method_or_path_is_refused_before_the_gateway() -> None:
    with pytest.raises(ToolError) as refused:
        invoke_request("status-api.request", {"path": "/status"}, None)
    assert refused.value.status == 422


@pytest.mark.parametrize(
    ("tool", "action"), [(tool, action) for tool, actions in BUILTIN_ACTIONS.items() for action in actions]
)
def test_every_builtin_action_is_named_by_its_builtin_and_calls_back_to_itself(
    tool: str, action: str
) -> None:
    listing = {
        "tool": tool,
        "credential": f"builtin:{tool}",
        "action": action,
        "description": "d",
        "approval": False,
        "argsSchema": BUILTIN_ACTIONS[tool][action].schema(),
    }
    [mcp_tool] = mcp_tools([listing])
    assert mcp_tool.name == f"{tool}.{action}"
    request = invoke_request(mcp_tool.name, {"taskId": "86c1"}, {TASK_META_KEY: "86c1"})
    assert (request.tool, request.credential, request.action, request.task_id) == (tool, None, action, "86c1")
    assert input_schema(mcp_tool.name) == mcp_tool.input_schema


def test_the_builtins_have_exactly_the_actions_the_registry_grants() -> None:
    assert {tool: tuple(actions) for tool, actions in BUILTIN_ACTIONS.items()} == REGISTRY_BUILTINS
