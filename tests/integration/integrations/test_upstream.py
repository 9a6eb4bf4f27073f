"""The Tool Gateway's upstream pool against a real HTTP server on loopback: what it sends, what it
keeps (nothing), what it follows (nothing), how much it reads, and how it fails."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from oblivion_nexus.integrations.upstream import Upstream, UpstreamError, UpstreamTimeout
from tests.support.servers import LoopbackServer, free_port


async def echo(request: Request) -> Response:
    return JSONResponse(
        {
            "method": request.method,
            "rawPath": request.scope["raw_path"].decode(),
            "query": request.scope["query_string"].decode(),
            "cookie": request.headers.get("cookie"),
            "contentType": request.headers.get("content-type"),
            "body": (await request.body()).decode(),
        },
        headers={"Link": '<http://x.test/p?page=2>; rel="next", <http://x.test/p?page=9>; rel="last"'},
    )


async def slow(_: Request) -> Response:
    await asyncio.sleep(2)
    return PlainTextResponse("late")


def cookie(_: Request) -> Response:
    response = PlainTextResponse("set")
    response.set_cookie("session", "s3cr3t")
    return response


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    app = Starlette(
        routes=[
            Route("/echo/{rest:path}", echo, methods=["GET", "POST"]),
            Route("/moved", lambda _: RedirectResponse("/echo/after", status_code=302)),
            Route("/big", lambda _: PlainTextResponse("x" * 100_000)),
            Route("/slow", slow),
            Route("/cookie", cookie),
        ]
    )
    with LoopbackServer(app) as running:
        yield running


async def test_the_url_goes_out_as_encoded_with_the_query_appended_and_json_sent_as_json(
    server: LoopbackServer,
) -> None:
    async with Upstream(timeout=5) as pool:
        answer = await pool.request(
            "POST",
            f"{server.base_url}/echo/a%2Fb?x=1",
            params={"draft": True, "n": 3, "q": "a b"},
            json={"title": "Überschrift"},
        )
    assert answer.status == 200
    echoed = answer.json()
    assert echoed["rawPath"] == "/echo/a%2Fb"  # an encoded slash stays one path segment
    assert echoed["query"] == "x=1&draft=true&n=3&q=a+b"
    assert echoed["contentType"] == "application/json"
    assert echoed["body"] == '{"title":"Überschrift"}'
    assert answer.links["next"]["url"] == "http://x.test/p?page=2"
    assert answer.links["last"]["url"] == "http://x.test/p?page=9"


async def test_a_redirect_is_answered_not_followed(server: LoopbackServer) -> None:
    async with Upstream(timeout=5) as pool:
        answer = await pool.request("GET", f"{server.base_url}/moved")
    assert (answer.status, answer.is_redirect, answer.headers["location"]) == (302, True, "/echo/after")


async def test_no_cookie_is_kept_for_the_next_call(server: LoopbackServer) -> None:
    async with Upstream(timeout=5) as pool:
        assert (await pool.request("GET", f"{server.base_url}/cookie")).headers["set-cookie"]
        assert (await pool.request("GET", f"{server.base_url}/echo/x")).json()["cookie"] is None


async def test_a_body_is_read_up_to_its_bound_and_says_it_was_cut(server: LoopbackServer) -> None:
    async with Upstream(timeout=5) as pool:
        cut = await pool.request("GET", f"{server.base_url}/big", max_bytes=1000)
        whole = await pool.request("GET", f"{server.base_url}/big")
    assert (len(cut.content), cut.truncated) == (1000, True)
    assert (len(whole.content), whole.truncated) == (100_000, False)


async def test_a_slow_upstream_times_out_and_a_closed_port_is_an_upstream_error(
    server: LoopbackServer,
) -> None:
    async with Upstream(timeout=0.5) as pool:
        with pytest.raises(UpstreamTimeout):
            await pool.request("GET", f"{server.base_url}/slow")
        with pytest.raises(UpstreamError) as refused:
            await pool.request("GET", f"http://127.0.0.1:{free_port()}/")
    assert refused.value.reason == "ClientConnectorError"
    assert pool.is_closed
    with pytest.raises(UpstreamError, match="closed"):
        await pool.request("GET", f"{server.base_url}/echo/x")
