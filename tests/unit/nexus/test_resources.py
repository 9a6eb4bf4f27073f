"""The shared upstream pools (tools, models) serve every workgroup, so they keep no cookie: a session
one workgroup's upstream starts must not ride along on another workgroup's call to the same host."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from oblivion_nexus.integrations.upstream import Upstream
from oblivion_nexus.resources import model_client, tool_client
from oblivion_nexus.settings import NexusSettings, load_settings
from tests.support.servers import bound_socket, serving_asgi


async def _echo(request: Request) -> JSONResponse:
    answer = JSONResponse({"cookie": request.headers.get("cookie")})
    answer.set_cookie("session", "of-workgroup-a")
    return answer


def _settings() -> NexusSettings:
    return load_settings(
        {
            "OBLIVION_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/unused",
            "OBLIVION_ADMIN_TOKEN": "adm-" + secrets.token_urlsafe(16),
            "OBLIVION_JWT_SIGNING_KEY": secrets.token_urlsafe(48),
            "OBLIVION_MASTER_KEY": "k1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
        }
    )


@pytest.mark.parametrize("pool", [tool_client, model_client])
async def test_a_shared_pool_sends_no_cookie_an_upstream_set(
    pool: Callable[[NexusSettings], Upstream],
) -> None:
    sock = bound_socket()
    port = sock.getsockname()[1]
    app = Starlette(routes=[Route("/", _echo)])
    async with serving_asgi(app, sock, what="cookie upstream"), pool(_settings()) as client:
        first = await client.request("GET", f"http://127.0.0.1:{port}/")
        assert first.headers["set-cookie"].startswith("session=of-workgroup-a")
        second = await client.request("GET", f"http://127.0.0.1:{port}/")
    assert second.json() == {"cookie": None}
