"""The HTTP client of the calls Nexus makes for agents: the Tool Gateway's upstreams (GitHub, a
credential's HTTP API) and the model gateway's providers, on aiohttp.

Every tool and model call passes through here, so its cost is the gateways': on this project's
benchmark machine httpx spent 1.75 ms of CPU per request with 32 in flight (its pool checks every
idle connection on every request) and aiohttp 0.11 ms (see ``bench/tool_gateway.py`` and
``bench/model_gateway.py``). The client is deliberately small — what the gateways need and no more:

- no redirect is ever followed (a tool decides whether a ``Location`` may be visited, and with
  which headers);
- no cookie is kept (one jar for every workgroup would send a cookie one workgroup's call received
  to another's calls to the same host), no proxy or credentials are taken from the environment;
- a body is read up to a bound and says whether it was cut, or streamed by line
  (:meth:`Upstream.stream`);
- the URL is sent as given (already encoded: ``%2F`` stays ``%2F``), with ``params`` appended;
- a failure to connect, a reset or a timeout is an :class:`UpstreamError`; a status is an answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json as jsonlib
import re
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from yarl import URL

# Connections kept per process; a tool call holds one only while it runs.
DEFAULT_MAX_CONNECTIONS = 100
_READ_CHUNK = 64 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_LINK = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]+)*)")
_LINK_PARAM = re.compile(r';\s*([^=;\s]+)\s*=\s*"?([^";]*)"?')


class UpstreamError(Exception):
    """The upstream could not be reached or dropped the connection; ``reason`` names how."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UpstreamTimeout(UpstreamError):
    """The upstream did not answer within the call's time."""


@contextlib.contextmanager
def _as_upstream_errors() -> Iterator[None]:
    """aiohttp's and the socket's failures as :class:`UpstreamTimeout` / :class:`UpstreamError`."""
    try:
        yield
    except TimeoutError as e:
        raise UpstreamTimeout("timed out") from e
    except (aiohttp.ClientError, OSError) as e:
        raise UpstreamError(type(e).__name__) from e


def _links(header: str | None) -> dict[str, dict[str, str]]:
    """An RFC 8288 ``Link`` header by relation: ``{"next": {"url": …, "rel": "next"}, …}``."""
    links: dict[str, dict[str, str]] = {}
    for match in _LINK.finditer(header or ""):
        params = {k.lower(): v for k, v in _LINK_PARAM.findall(match.group(2))}
        for rel in params.get("rel", "").split():
            links[rel] = {**params, "rel": rel, "url": match.group(1)}
    return links


@dataclass(frozen=True)
class UpstreamResponse:
    """One answer, read (up to the call's bound) and released."""

    status: int
    reason: str
    url: str
    headers: Mapping[str, str]  # case-insensitive
    content: bytes
    truncated: bool = False
    links: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON; ``ValueError`` when it is not."""
        return jsonlib.loads(self.content)

    @property
    def is_redirect(self) -> bool:
        return self.status in _REDIRECTS and "location" in self.headers


class UpstreamStream:
    """An answer whose body is still coming: its status and headers, then its body once or by line."""

    def __init__(
        self, response: aiohttp.ClientResponse, sending: contextlib.AbstractAsyncContextManager[Any]
    ) -> None:
        self.status = response.status
        self.reason = response.reason or ""
        self.headers: Mapping[str, str] = response.headers
        self._response = response
        self._sending = sending

    async def read(self) -> bytes:
        with _as_upstream_errors():
            return await self._response.read()

    async def lines(self) -> AsyncIterator[str]:
        """The body's lines, decoded, without their line ends."""
        with _as_upstream_errors():
            async for raw in self._response.content:
                yield raw.decode("utf-8", errors="replace").rstrip("\r\n")

    async def aclose(self) -> None:
        await self._sending.__aexit__(None, None, None)


def _query(params: Mapping[str, Any]) -> dict[str, str]:
    """Query values as the APIs expect them: ``true``/``false`` for booleans, numbers as written."""
    return {k: ("true" if v else "false") if isinstance(v, bool) else str(v) for k, v in params.items()}


class Upstream:
    """One pool for a process's upstream calls. Make it anywhere, use it inside a running loop (the
    pool opens on the first call), close it with :meth:`aclose`."""

    def __init__(
        self,
        *,
        timeout: float | None,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ) -> None:
        """``timeout`` bounds a whole call (None: unbounded, for streams that last as long as a
        model writes); ``read_timeout`` bounds each wait for more of the answer."""
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=connect_timeout, sock_read=read_timeout)
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    @property
    def is_closed(self) -> bool:
        return self._closed

    def _pool(self) -> aiohttp.ClientSession:
        if self._closed:
            raise UpstreamError("the upstream pool is closed")
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections, limit_per_host=0),
                cookie_jar=aiohttp.DummyCookieJar(),
                timeout=self._timeout,
                trust_env=False,
                raise_for_status=False,
            )
        return self._session

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        max_bytes: int | None = None,
        server_hostname: str | None = None,
    ) -> UpstreamResponse:
        """Send one request and read its answer (at most ``max_bytes`` of the body when given).

        ``server_hostname`` is the TLS name to check when ``url`` names a pinned address.
        """
        async with self._sending(method, url, params, json, content, headers, server_hostname) as response:
            with _as_upstream_errors():
                body, truncated = await self._read(response, max_bytes)
            return UpstreamResponse(
                status=response.status,
                reason=response.reason or "",
                url=str(response.url),
                headers=response.headers,
                content=body,
                truncated=truncated,
                links=_links(response.headers.get("link")),
            )

    async def stream(
        self, method: str, url: str, *, json: Any = None, headers: Mapping[str, str] | None = None
    ) -> UpstreamStream:
        """Send one request and return as soon as the answer's head is in; read its body from the
        returned :class:`UpstreamStream`, which must be closed (``aclose``) by whoever reads it."""
        sending = self._sending(method, url, None, json, None, headers, None)
        response = await sending.__aenter__()
        return UpstreamStream(response, sending)

    @contextlib.asynccontextmanager
    async def _sending(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        json: Any,
        content: bytes | None,
        headers: Mapping[str, str] | None,
        server_hostname: str | None,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        sent_headers = dict(headers or {})
        if json is not None:
            content = jsonlib.dumps(json, separators=(",", ":"), ensure_ascii=False).encode()
            if not any(k.lower() == "content-type" for k in sent_headers):
                sent_headers["Content-Type"] = "application/json"
        target = URL(url, encoded=True)
        if params:
            target = target.extend_query(_query(params))
        with _as_upstream_errors():
            response = await self._pool().request(
                method,
                target,
                data=content,
                headers=sent_headers,
                allow_redirects=False,
                server_hostname=server_hostname,
            )
        try:
            yield response
        finally:
            response.release()

    @staticmethod
    async def _read(response: aiohttp.ClientResponse, max_bytes: int | None) -> tuple[bytes, bool]:
        if max_bytes is None:
            return await response.read(), False
        data = bytearray()
        async for chunk in response.content.iter_chunked(_READ_CHUNK):
            data.extend(chunk)
            if len(data) > max_bytes:
                return bytes(data[:max_bytes]), True
        return bytes(data), False

    async def __aenter__(self) -> Upstream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()
            # aiohttp's documented way to let the connector's transports finish closing
            await asyncio.sleep(0)
