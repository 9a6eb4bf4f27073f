"""The `http` tool: calls stay below the credential's base URL, never reach internal addresses by
surprise, carry the secret only to the upstream, and are bounded in time and size."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from oblivion_nexus.integrations.upstream import Upstream
from oblivion_nexus.resources import tool_client
from oblivion_nexus.services.tools.http_tool import (
    HttpArgs,
    HttpCredential,
    HttpTool,
    HttpToolError,
    parse_action,
)
from tests.support.nexus import nexus_settings
from tests.support.servers import LoopbackServer

SECRET = "sk_live_upstream_secret_42"


async def echo(request: Request) -> Response:
    return JSONResponse({
        "method": request.method, "path": request.url.path, "query": dict(request.query_params),
        "host": request.headers.get("host"), "auth": request.headers.get("x-api-key"),
        "accept": request.headers.get("accept"), "body": (await request.body()).decode(),
        "cookie": request.headers.get("cookie"),
    })  # fmt: skip


def session(request: Request) -> Response:
    """Logs the caller in, as some APIs do: a session cookie tied to the key it presented."""
    answer = JSONResponse({"session": "started"})
    answer.set_cookie("session", f"of-{request.headers.get('x-api-key')}")
    return answer


async def slow(_: Request) -> Response:
    await asyncio.sleep(5)
    return PlainTextResponse("late")


def routes(other_base: str) -> list[Route]:
    return [
        Route("/api/v1/{rest:path}", echo, methods=["GET", "POST", "DELETE", "PUT"]),
        Route("/api/moved", lambda _: RedirectResponse("/api/v1/new-home", status_code=302)),
        Route("/api/outside", lambda _: RedirectResponse("/admin/secrets", status_code=302)),
        Route("/api/elsewhere", lambda _: RedirectResponse(f"{other_base}/api/v1/x", status_code=302)),
        Route("/api/loop", lambda _: RedirectResponse("/api/loop", status_code=302)),
        Route("/api/big", lambda _: PlainTextResponse("y" * 5000)),
        Route("/api/session", session),
        Route("/api/slow", slow),
        Route("/admin/secrets", lambda _: PlainTextResponse("internal")),
    ]


@pytest.fixture
def upstream() -> Iterator[LoopbackServer]:
    other = LoopbackServer(Starlette(routes=[Route("/api/v1/{rest:path}", echo)]))
    with other, LoopbackServer(Starlette(routes=routes(other.base_url))) as server:
        yield server


@pytest.fixture
async def tool() -> AsyncIterator[HttpTool]:
    http = Upstream(timeout=5.0)
    try:
        yield HttpTool(http, timeout=1.0, max_response_bytes=1000)
    finally:
        await http.aclose()


def credential(upstream: LoopbackServer) -> HttpCredential:
    return HttpCredential(base_url=f"{upstream.base_url}/api", secret=SECRET, header="X-Api-Key", scheme=None)


async def test_a_call_goes_below_the_base_url_with_the_secret_header_query_and_json_body(
    tool: HttpTool, upstream: LoopbackServer
) -> None:
    args = HttpArgs(
        query={"state": "open", "n": 2}, headers={"Accept": "application/json"}, body={"title": "x"}
    )
    result = await tool.call(credential(upstream), "POST /v1/items", args)
    assert result.status == 200
    assert result.body == {
        "method": "POST", "path": "/api/v1/items", "query": {"state": "open", "n": "2"},
        "host": f"127.0.0.1:{upstream.port}", "auth": SECRET, "accept": "application/json",
        "body": '{"title": "x"}', "cookie": None,
    }  # fmt: skip


@pytest.mark.parametrize(
    "action",
    ["GET //evil.example/x", "GET /v1/../../admin/secrets", "GET /v1/./x", "GET /v1\\..\\admin",
     "GET /v1?x=1", "GET /v1#frag", "GET /v1/a b"],
)  # fmt: skip
def test_a_path_that_could_leave_the_base_url_is_refused_before_sending(action: str) -> None:
    with pytest.raises(HttpToolError) as refused:
        parse_action(action)
    assert refused.value.status in (404, 422)


def test_an_action_that_is_not_method_and_path_is_unknown() -> None:
    for action in ("issues.create", "TRACE /x", "GET https://evil.example/", "GET"):
        with pytest.raises(HttpToolError) as refused:
            parse_action(action)
        assert refused.value.status == 404


async def test_the_agent_cannot_set_the_credential_header_cookies_or_host(
    tool: HttpTool, upstream: LoopbackServer
) -> None:
    for name in ("X-Api-Key", "Authorization", "Cookie", "Host"):
        with pytest.raises(HttpToolError, match="may not be set"):
            await tool.call(credential(upstream), "GET /v1/x", HttpArgs(headers={name: "mine"}))


async def test_redirects_are_followed_below_the_base_url_only(
    tool: HttpTool, upstream: LoopbackServer
) -> None:
    moved = await tool.call(credential(upstream), "GET /moved", HttpArgs())
    assert moved.body["path"] == "/api/v1/new-home"
    for action, reason in (
        ("GET /outside", "outside"),
        ("GET /elsewhere", "outside"),
        ("GET /loop", "redirects"),
    ):
        with pytest.raises(HttpToolError, match=reason) as refused:
            await tool.call(credential(upstream), action, HttpArgs())
        assert refused.value.status == 502


async def test_a_public_name_that_resolves_to_an_internal_address_is_refused(
    upstream: LoopbackServer,
) -> None:
    async def rebinding(host: str, port: int) -> list[str]:
        return {"api.vendor.example": ["10.0.0.8"], "meta.vendor.example": ["169.254.169.254"],
                "v6.vendor.example": ["::ffff:127.0.0.1"]}[host]  # fmt: skip

    http = Upstream(timeout=5.0)
    try:
        tool = HttpTool(http, resolver=rebinding)
        for host in ("api.vendor.example", "meta.vendor.example", "v6.vendor.example"):
            cred = HttpCredential(base_url=f"https://{host}/api", secret=SECRET)
            with pytest.raises(HttpToolError, match="non-public address") as refused:
                await tool.call(cred, "GET /v1/x", HttpArgs())
            assert refused.value.status == 403
    finally:
        await http.aclose()


async def test_an_internal_base_url_chosen_by_the_platform_team_is_allowed(
    tool: HttpTool, upstream: LoopbackServer
) -> None:
    base = f"http://localhost:{upstream.port}/api"
    by_name = HttpCredential(base_url=base, secret=SECRET, header="X-Api-Key", scheme=None)
    answer = (await tool.call(by_name, "GET /v1/ok", HttpArgs())).body
    assert answer["auth"] == SECRET
    assert answer["host"] == f"localhost:{upstream.port}", "connected to the checked address, Host kept"


async def test_responses_are_capped_and_slow_upstreams_time_out(
    tool: HttpTool, upstream: LoopbackServer
) -> None:
    big = await tool.call(credential(upstream), "GET /big", HttpArgs())
    assert big.truncated is True
    assert big.body == "y" * 1000
    with pytest.raises(HttpToolError) as slow:
        await tool.call(credential(upstream), "GET /slow", HttpArgs())
    assert slow.value.status == 504


async def test_a_base_url_with_userinfo_or_another_scheme_is_refused(tool: HttpTool) -> None:
    for base in ("http://user:pw@127.0.0.1:9/api", "ftp://127.0.0.1/api", "file:///etc"):
        with pytest.raises(HttpToolError) as refused:
            await tool.call(HttpCredential(base_url=base, secret=SECRET), "GET /x", HttpArgs())
        assert refused.value.status == 422


async def test_a_cookie_an_upstream_set_for_one_credential_never_goes_out_with_another(
    upstream: LoopbackServer, nexus_env: dict[str, str]
) -> None:
    async with tool_client(nexus_settings(nexus_env)) as http:  # the pool every workgroup shares
        tool = HttpTool(http)
        first = HttpCredential(
            base_url=f"{upstream.base_url}/api", secret="sk_first_workgroup", header="X-Api-Key", scheme=None
        )
        second = HttpCredential(
            base_url=f"{upstream.base_url}/api", secret="sk_other_workgroup", header="X-Api-Key", scheme=None
        )
        started = await tool.call(first, "GET /session", HttpArgs())
        assert started.body == {"session": "started"}
        echoed = await tool.call(second, "GET /v1/whoami", HttpArgs())
        assert echoed.body["auth"] == "sk_other_workgroup"
        assert echoed.body["cookie"] is None
