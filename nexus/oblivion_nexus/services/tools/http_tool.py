"""The `http` tool: an agent calls an HTTP API that a ToolCredential configures, below its base URL only.

The credential says where (`baseUrl`) and how the secret is sent (a header name and an optional
scheme, e.g. `Authorization: Bearer …` or `X-Api-Key: …`). An action is `METHOD /path`; the path is
relative to the base URL and may not leave it: no absolute or scheme-relative URLs, no `..`
segments, no backslashes; the host and port always come from the base URL. Redirects are followed
a few times, and only below the base URL.
Nexus must not become a way into the cluster's network (server-side request forgery), so the host
is resolved once per call, every address must be public unless the base URL itself names an
internal address (a literal private IP or `localhost`: an internal API the platform team chose), and
the connection goes to the checked address (the Host header and TLS name stay the original), so a
DNS answer that changes between check and use cannot redirect it. Time and response size are bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import re
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import SplitResult, quote, urljoin, urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field

from oblivion_nexus.errors import ServiceError
from oblivion_nexus.integrations.upstream import Upstream, UpstreamError

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
# Headers an agent may set; the credential's header, cookies, Host and hop-by-hop headers are Nexus's.
AGENT_HEADERS = frozenset(
    {"accept", "content-type", "if-match", "if-none-match", "accept-language", "x-request-id"}
)
MAX_REDIRECTS = 3
DEFAULT_TIMEOUT_SECONDS = 10.0
DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024

Resolver = Callable[[str, int], Awaitable[list[str]]]


class HttpToolError(ServiceError):
    """A call the http tool refuses before sending (`status` 422/403) or an upstream failure (502/504)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class HttpCredential:
    """A ToolCredential's `spec.http` and its secret value."""

    base_url: str
    secret: str
    header: str = "Authorization"
    scheme: str | None = "Bearer"


class HttpArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    query: dict[Annotated[str, Field(max_length=256)], str | int | float | bool] = Field(
        default_factory=dict, max_length=64
    )
    headers: dict[str, Annotated[str, Field(max_length=1024)]] = Field(default_factory=dict, max_length=16)
    body: Any = None


_ACTION = re.compile(r"^(GET|HEAD|POST|PUT|PATCH|DELETE) (/[^\s]*)$")


def parse_action(action: str) -> tuple[str, str]:
    """`METHOD /path` → (method, path), refusing any path that could leave the base URL."""
    match = _ACTION.match(action)
    if not match:
        raise HttpToolError(404, f"http actions are 'METHOD /path' with METHOD one of {', '.join(METHODS)}")
    method, path = match.groups()
    if path.startswith("//") or "\\" in path or "#" in path or "?" in path:
        raise HttpToolError(
            422, "the path must be a plain path below the base URL (query goes in args.query)"
        )
    segments = path.split("/")
    if any(s in ("..", ".") or quote(s, safe="%:!$&'()*+,;=~-._") != s for s in segments):
        raise HttpToolError(422, "the path may not contain '.' or '..' segments or unencoded characters")
    return method, path


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _internal_by_design(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return not _is_public(host)
    except ValueError:
        return False


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


@dataclass(frozen=True)
class _Outgoing:
    method: str
    url: str
    headers: dict[str, str]
    query: Mapping[str, Any]
    content: bytes | None


@dataclass(frozen=True)
class HttpResult:
    status: int
    content_type: str | None
    body: Any
    truncated: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "contentType": self.content_type,
            "body": self.body,
            "truncated": self.truncated,
        }


class HttpTool:
    """Runs credentials' http actions through one shared :class:`Upstream` pool."""

    def __init__(
        self,
        http: Upstream,
        *,
        resolver: Resolver = system_resolver,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        self._http = http
        self._resolve = resolver
        self._timeout = timeout
        self._max_bytes = max_response_bytes

    async def call(self, credential: HttpCredential, action: str, args: HttpArgs) -> HttpResult:
        method, path = parse_action(action)
        base = urlsplit(credential.base_url)
        if base.scheme not in ("http", "https") or not base.hostname or base.username or base.password:
            raise HttpToolError(
                422, "the credential's base URL must be http(s)://host[:port][/path] without userinfo"
            )
        for name in args.headers:
            if name.lower() not in AGENT_HEADERS:
                raise HttpToolError(422, f"header {name!r} may not be set by an agent")
        url = urlunsplit((base.scheme, base.netloc, base.path.rstrip("/") + path, "", ""))
        headers = dict(args.headers)
        value = credential.secret if not credential.scheme else f"{credential.scheme} {credential.secret}"
        headers[credential.header] = value
        content = None
        if args.body is not None:
            content = json.dumps(args.body).encode()
            headers.setdefault("Content-Type", "application/json")
        try:
            async with asyncio.timeout(self._timeout):
                return await self._follow(_Outgoing(method, url, headers, dict(args.query), content), base)
        except TimeoutError as e:
            raise HttpToolError(504, f"{method} {path} took longer than {self._timeout:g} s") from e

    async def _follow(self, outgoing: _Outgoing, base: SplitResult) -> HttpResult:
        for _ in range(MAX_REDIRECTS + 1):
            response_or_redirect = await self._once(outgoing, base)
            if isinstance(response_or_redirect, HttpResult):
                return response_or_redirect
            target = urlsplit(response_or_redirect)
            if (target.scheme, target.netloc) != (base.scheme, base.netloc) or not target.path.startswith(
                base.path.rstrip("/") + "/"
            ):
                raise HttpToolError(
                    502, "the upstream redirected outside the credential's base URL; not followed"
                )
            keeps_body = outgoing.method in ("GET", "HEAD")
            outgoing = _Outgoing(
                outgoing.method if keeps_body else "GET",
                urlunsplit((target.scheme, target.netloc, target.path, target.query, "")),
                outgoing.headers,
                {},
                outgoing.content if keeps_body else None,
            )
        raise HttpToolError(502, f"more than {MAX_REDIRECTS} redirects")

    async def _once(self, outgoing: _Outgoing, base: SplitResult) -> HttpResult | str:
        method, url = outgoing.method, outgoing.url
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
        try:
            addresses = await self._resolve(host, port)
        except OSError as e:
            raise HttpToolError(502, f"cannot resolve {host}") from e
        if not addresses:
            raise HttpToolError(502, f"cannot resolve {host}")
        if not _internal_by_design(base.hostname or "") and not all(_is_public(a) for a in addresses):
            raise HttpToolError(403, f"{host} resolves to a non-public address; refused")
        address = addresses[0]
        pinned_host = f"[{address}]" if ":" in address else address
        pinned = urlunsplit((parts.scheme, f"{pinned_host}:{port}", parts.path, parts.query, ""))
        try:
            response = await self._http.request(
                method,
                pinned,
                params=outgoing.query or None,
                content=outgoing.content,
                headers={**outgoing.headers, "Host": parts.netloc},
                max_bytes=self._max_bytes,
                server_hostname=host if parts.scheme == "https" else None,
            )
        except UpstreamError as e:
            raise HttpToolError(502, f"{method} {parts.path}: {e.reason}") from e
        if response.is_redirect:
            return urljoin(url, response.headers["location"])
        content_type = response.headers.get("content-type")
        body: Any = response.text
        if not response.truncated and content_type and "json" in content_type:
            with contextlib.suppress(ValueError):
                body = json.loads(response.content)
        return HttpResult(response.status, content_type, body, response.truncated)
