"""``/mcp``: the Tool Gateway as a Model Context Protocol server over Streamable HTTP, for any MCP client.

An agent connects with the access token it uses for ``/v1/tools`` (``Authorization: Bearer …``),
checked by the same dependency on every HTTP request: no token, a bad, expired or revoked one is 401
(with ``WWW-Authenticate`` naming the protected resource metadata, as MCP's authorization spec
asks), a disabled or deleted agent 403. ``tools/list`` answers what ``GET /v1/tools`` lists for that
agent, and ``tools/call`` runs :meth:`.ToolGateway.invoke`, the path of ``POST /v1/tools/invoke``
(with its idempotency, the key in ``_meta``):
policy, approvals, rate limits, audit and scrubbing happen there, not here. One more tool,
``memory_search``, is ``POST /v1/memory/search`` (same body, same scope: the projects of the token).

The transport is stateless (no MCP session is kept between HTTP requests): every request carries
its token and is authenticated alone, and any Nexus replica can answer it without sticky routing.
Host-header checks against DNS rebinding are off: a browser tricked into reaching Nexus still has
no agent token to send. The agent's token is never sent anywhere else.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import mcp_types as types
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from mcp.server import Server, ServerRequestContext
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.exceptions import MCPError
from pydantic import ValidationError
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from oblivion_nexus.api.deps import get_resources
from oblivion_nexus.api.errors import error_response
from oblivion_nexus.api.memory import SearchBody, search_as, searcher_of
from oblivion_nexus.api.tasks import agent_identity
from oblivion_nexus.errors import ServiceError
from oblivion_nexus.resources import Resources
from oblivion_nexus.services.auth.tokens import AgentIdentity
from oblivion_nexus.services.safeguards.idempotency import IdempotencyError
from oblivion_nexus.services.tools import mcp_tools
from oblivion_nexus.services.tools.gateway import ToolError, ToolGateway
from oblivion_nexus.services.tools.invoke_once import invoke_once

logger = logging.getLogger(__name__)

PATH = "/mcp"
METADATA_PATH = "/.well-known/oauth-protected-resource" + PATH
ISSUER_METADATA_PATH = "/.well-known/oauth-authorization-server"
# Where the endpoint leaves the verified caller for the MCP handlers (an ASGI extension key).
_IDENTITY_KEY = "oblivion.agent_identity"
_INSTRUCTIONS = (
    "Oblivion's Tool Gateway: act on GitHub and HTTP APIs with your workgroup's credentials, which"
    " never reach you. Tools named <credential>.<action>; <credential>.request calls an HTTP API."
    " Set _meta['oblivion.dev/taskId'] to tie a call to a task (approvals are asked in its thread),"
    " and _meta['oblivion.dev/idempotencyKey'] so that a retried call runs once. memory_search"
    " searches what was said in your projects' Slack channels and ClickUp tasks."
)
# No credential name has an underscore (they are DNS labels), so no credential's tool can be this one.
MEMORY_SEARCH = "memory_search"
_MEMORY_SEARCH_SCHEMA = SearchBody.model_json_schema(by_alias=True)
_MEMORY_SEARCH_TOOL = types.Tool(
    name=MEMORY_SEARCH,
    description="Search the memory of your projects (Slack messages and threads, ClickUp task "
    "descriptions and comments, thread summaries), best match first. Optional: limit, projects (narrow "
    "to some of yours), taskId, kinds (message, comment, description, summary), since/until.",
    input_schema=_MEMORY_SEARCH_SCHEMA,
)


def _caller(ctx: ServerRequestContext[Any, Any]) -> tuple[AgentIdentity, ToolGateway, Resources]:
    request = ctx.request
    if not isinstance(request, Request) or not isinstance(request.scope.get(_IDENTITY_KEY), AgentIdentity):
        raise MCPError(types.INVALID_REQUEST, "no authenticated agent")  # only if McpEndpoint is bypassed
    identity: AgentIdentity = request.scope[_IDENTITY_KEY]
    gateway: ToolGateway = request.app.state.tools
    return identity, gateway, get_resources(request)


async def _list_tools(
    ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
) -> types.ListToolsResult:
    identity, gateway, _ = _caller(ctx)
    tools = mcp_tools.mcp_tools(await gateway.catalog(identity))
    return types.ListToolsResult(tools=[*tools, _MEMORY_SEARCH_TOOL])


def _input_schema(name: str) -> dict[str, Any] | None:
    return _MEMORY_SEARCH_SCHEMA if name == MEMORY_SEARCH else mcp_tools.input_schema(name)


async def _memory_search(
    ctx: ServerRequestContext[Any, Any], arguments: dict[str, Any] | None
) -> types.CallToolResult:
    identity, _, resources = _caller(ctx)
    try:
        body = SearchBody.model_validate(arguments or {})
    except ValidationError as e:
        detail = [{"loc": err["loc"], "msg": err["msg"]} for err in e.errors(include_url=False)]
        return mcp_tools.error_result(ToolError(422, detail))
    request = ctx.request
    assert isinstance(request, Request)  # checked by _caller
    try:
        async with resources.sessionmaker() as session:
            hits = await search_as(session, searcher_of(request.app), identity, body)
    except ServiceError as e:
        return mcp_tools.error_result(ToolError(e.status, e.detail, retry_after=e.retry_after))
    return types.CallToolResult(
        content=[types.TextContent(text=json.dumps(hits, ensure_ascii=False))],
        structured_content={"hits": hits},
    )


async def _call_tool(
    ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
) -> types.CallToolResult:
    if params.name == MEMORY_SEARCH:
        return await _memory_search(ctx, params.arguments)
    identity, gateway, resources = _caller(ctx)
    key = (params.meta or {}).get(mcp_tools.IDEMPOTENCY_META_KEY)
    try:
        request = mcp_tools.invoke_request(params.name, params.arguments, params.meta)
        outcome = await invoke_once(
            gateway, resources, identity, request, key if isinstance(key, str) else None
        )
    except mcp_tools.UnknownMcpTool:
        raise MCPError(types.INVALID_PARAMS, f"unknown tool {params.name!r}; tools/list names them") from None
    except ToolError as e:
        return mcp_tools.error_result(e)
    except IdempotencyError as e:
        return mcp_tools.error_result(ToolError(e.status, str(e), retry_after=e.retry_after))
    return mcp_tools.call_result(outcome)


def build_server(version: str) -> Server[Any]:
    return Server(
        "oblivion-nexus",
        version=version,
        title="Oblivion Tool Gateway",
        instructions=_INSTRUCTIONS,
        on_list_tools=_list_tools,
        on_call_tool=_call_tool,
        get_tool_input_schema=_input_schema,
    )


class McpEndpoint:
    """ASGI app of ``/mcp``: authenticate the agent as ``/v1/tools`` does, then let MCP's transport answer."""

    def __init__(self, sessions: StreamableHTTPSessionManager) -> None:
        self._sessions = sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            identity = await agent_identity(request, get_resources(request))
        except ServiceError as e:
            if e.status == 500:
                raise
            # Outside FastAPI's routing, so the app's handler is not reached: its response, plus the
            # RFC 9728 pointer MCP clients follow to find where to get a token.
            extra = {}
            if "WWW-Authenticate" in e.headers:
                metadata = get_resources(request).settings.http.public_url.rstrip("/") + METADATA_PATH
                extra["WWW-Authenticate"] = f'{e.headers["WWW-Authenticate"]}, resource_metadata="{metadata}"'
            await error_response(e, extra)(scope, receive, send)
            return
        scope[_IDENTITY_KEY] = identity
        await self._sessions.handle_request(scope, receive, send)


def install(app: FastAPI, *, version: str, max_body_bytes: int) -> StreamableHTTPSessionManager:
    """Add ``/mcp`` and its OAuth metadata to ``app``; the returned manager runs in the app's lifespan."""
    sessions = StreamableHTTPSessionManager(
        build_server(version), stateless=True, json_response=True, max_request_body_size=max_body_bytes
    )
    app.router.routes.append(Route(PATH, McpEndpoint(sessions), include_in_schema=False))

    async def protected_resource(request: Request) -> JSONResponse:
        """RFC 9728 metadata: MCP clients look here for who issues the tokens ``/mcp`` accepts."""
        base = get_resources(request).settings.http.public_url.rstrip("/")
        return JSONResponse(
            {
                "resource": base + PATH,
                "authorization_servers": [base],
                "bearer_methods_supported": ["header"],
                "resource_name": "Oblivion Tool Gateway (MCP)",
            }
        )

    async def authorization_server(request: Request) -> JSONResponse:
        """RFC 8414 metadata of Nexus's token endpoint: agents log in with the client-credentials grant."""
        base = get_resources(request).settings.http.public_url.rstrip("/")
        return JSONResponse(
            {
                "issuer": base,
                "token_endpoint": base + "/oauth/token",
                "grant_types_supported": ["client_credentials"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                "response_types_supported": [],
            }
        )

    app.add_api_route(METADATA_PATH, protected_resource, methods=["GET"], include_in_schema=False)
    app.add_api_route(ISSUER_METADATA_PATH, authorization_server, methods=["GET"], include_in_schema=False)
    return sessions
