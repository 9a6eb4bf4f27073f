"""The Tool Gateway's catalog and answers in Model Context Protocol terms, so MCP clients use the same tools.

An MCP tool is a name, a description and a JSON Schema of its arguments. What an agent may call is
what :meth:`.gateway.ToolGateway.catalog` lists for it; this module only renames it:

- a github action is the tool ``<credential>.<action>``, e.g. ``github.issues.create``, with the
  action's own argument schema;
- an http credential is one tool ``<credential>.request`` whose arguments add ``method`` and
  ``path`` to the http tool's (an http action is a pattern such as ``GET /status/*``, which no MCP
  tool name may hold); its description lists the patterns the agent may use;
- a built-in's action is ``<built-in>.<action>``, e.g. ``clickup.tasks.get`` (a built-in has no
  credential); these names are matched first, so a credential named ``clickup`` cannot shadow them.

Names keep to the characters MCP allows in tool names (letters, digits, ``_``, ``-``, ``.``): a
credential's name is a Kubernetes object name, which already does. A call is turned back into the
:class:`.gateway.InvokeRequest` that ``POST /v1/tools/invoke`` would have made, whether or not the
name was listed, so a refused call is refused and audited by the gateway like any other.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import mcp_types as types

from oblivion_nexus.services.tools.builtin_tools import ACTIONS as BUILTIN_ACTIONS
from oblivion_nexus.services.tools.gateway import InvokeOutcome, InvokeRequest, ToolError
from oblivion_nexus.services.tools.github_actions import ACTIONS as GITHUB_ACTIONS
from oblivion_nexus.services.tools.http_tool import METHODS, HttpArgs

HTTP_SUFFIX = ".request"
# `_meta` key of a tools/call naming the ClickUp task the call belongs to (its thread hosts approvals).
TASK_META_KEY = "oblivion.dev/taskId"
# `_meta` key carrying the call's Idempotency-Key: a retried call gets the first answer.
IDEMPOTENCY_META_KEY = "oblivion.dev/idempotencyKey"
_APPROVAL_NOTE = (
    " Needs a person's approval in Slack: the call answers that it is pending, with an approval id,"
    " and its result reaches the agent later as a TOOL_RESULT event."
)


class UnknownMcpTool(Exception):
    """A tools/call name that is no built-in's action, no github action and no http credential's
    ``.request``."""


def http_schema(patterns: Sequence[str] = ()) -> dict[str, Any]:
    """The arguments of ``<credential>.request``: the http tool's, plus the method and path."""
    schema = HttpArgs.model_json_schema()
    methods = sorted({p.split(" ", 1)[0] for p in patterns if p.split(" ", 1)[0] in METHODS}) or list(METHODS)
    properties = {
        "method": {"type": "string", "enum": methods, "description": "The HTTP method."},
        "path": {
            "type": "string",
            "description": "The path below the credential's base URL, e.g. /status/42 (no query: use query).",
        },
        **schema.get("properties", {}),
    }
    combined: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "required": ["method", "path"],
        "additionalProperties": False,
    }
    if "$defs" in schema:
        combined["$defs"] = schema["$defs"]
    return combined


def mcp_tools(catalog: Sequence[Mapping[str, Any]]) -> list[types.Tool]:
    """The MCP tools for one agent's catalog (the listing of ``GET /v1/tools``), in its order."""
    tools: list[types.Tool] = []
    http: dict[str, list[Mapping[str, Any]]] = {}
    for entry in catalog:
        if entry["tool"] == "http":
            http.setdefault(entry["credential"], []).append(entry)
            continue
        if entry["tool"] in BUILTIN_ACTIONS:
            tools.append(
                types.Tool(
                    name=f"{entry['tool']}.{entry['action']}",
                    description=str(entry["description"]),
                    input_schema=dict(entry["argsSchema"]),
                )
            )
            continue
        description = f"{entry['description']} (credential {entry['credential']})"
        tools.append(
            types.Tool(
                name=f"{entry['credential']}.{entry['action']}",
                description=description + (_APPROVAL_NOTE if entry["approval"] else ""),
                input_schema=dict(entry["argsSchema"]),
            )
        )
    for credential, entries in http.items():
        patterns = [str(e["action"]) for e in entries]
        approval = [str(e["action"]) for e in entries if e["approval"]]
        description = f"Call the HTTP API of credential {credential}; allowed: {', '.join(patterns)}."
        if approval:
            description += f" These need a person's approval: {', '.join(approval)}." + _APPROVAL_NOTE
        tools.append(
            types.Tool(
                name=credential + HTTP_SUFFIX, description=description, input_schema=http_schema(patterns)
            )
        )
    return tools


def input_schema(name: str) -> dict[str, Any] | None:
    """The argument schema of a tool by name alone, whoever asks (None: no such tool)."""
    builtin = _builtin_action(name)
    if builtin is not None:
        return BUILTIN_ACTIONS[builtin[0]][builtin[1]].schema()
    if name.endswith(HTTP_SUFFIX) and len(name) > len(HTTP_SUFFIX):
        return http_schema()
    action = _github_action(name)
    return GITHUB_ACTIONS[action].schema() if action else None


def _builtin_action(name: str) -> tuple[str, str] | None:
    """The (built-in, action) a name is, e.g. ``clickup.tasks.get``; None when it is none."""
    tool, _, action = name.partition(".")
    return (tool, action) if action in BUILTIN_ACTIONS.get(tool, {}) else None


def _github_action(name: str) -> str | None:
    """The github action a name ends with after a non-empty credential, the longest if several do."""
    matches = [a for a in GITHUB_ACTIONS if name.endswith("." + a) and len(name) > len(a) + 1]
    return max(matches, key=len) if matches else None


def invoke_request(
    name: str, arguments: Mapping[str, Any] | None, meta: Mapping[str, Any] | None
) -> InvokeRequest:
    """The gateway request a tools/call stands for; :class:`UnknownMcpTool` when the name is no tool."""
    args = dict(arguments or {})
    task = (meta or {}).get(TASK_META_KEY)
    task_id = task if isinstance(task, str) and task else None
    builtin = _builtin_action(name)
    if builtin is not None:
        return InvokeRequest(builtin[0], builtin[1], args, None, task_id)
    action = _github_action(name)
    if action is not None:
        return InvokeRequest("github", action, args, name[: -len(action) - 1], task_id)
    if name.endswith(HTTP_SUFFIX) and len(name) > len(HTTP_SUFFIX):
        method, path = args.pop("method", None), args.pop("path", None)
        if not isinstance(method, str) or not isinstance(path, str):
            raise ToolError(422, "an http call needs string arguments 'method' and 'path'")
        return InvokeRequest("http", f"{method.upper()} {path}", args, name[: -len(HTTP_SUFFIX)], task_id)
    raise UnknownMcpTool(name)


def call_result(outcome: InvokeOutcome) -> types.CallToolResult:
    """A ran or pending call as a tool result (not an error: a pending call is on its way)."""
    body = outcome.body
    if body.get("status") == "pending_approval":
        text = (
            f"Pending approval {body['approvalId']}: a person must approve this call in Slack before it"
            f" runs (until {body['expiresAt']}). Its result reaches the agent later as a TOOL_RESULT event"
            f" with request id {body['approvalId']}."
        )
    else:
        text = json.dumps(body.get("result"), ensure_ascii=False)
    return types.CallToolResult(content=[types.TextContent(text=text)], structured_content=body)


def error_result(error: ToolError) -> types.CallToolResult:
    """A refused or failed call as a tool error the model can read: the HTTP status and the detail."""
    body: dict[str, Any] = {"status": "error", "httpStatus": error.status, "detail": error.detail}
    if error.retry_after is not None:
        body["retryAfterSeconds"] = max(int(error.retry_after + 0.999), 1)
    text = json.dumps(body, ensure_ascii=False)
    return types.CallToolResult(
        content=[types.TextContent(text=text)], structured_content=body, is_error=True
    )
