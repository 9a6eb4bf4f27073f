"""Typed async client of GitHub's REST API, for the Tool Gateway's `github` tool.

It holds one credential's token and base URL (`https://api.github.com`, or a GitHub Enterprise
Server's `https://HOST/api/v3`), and turns GitHub's answers into :class:`GitHubError` subclasses
that say what to do next: wait (:class:`GitHubRateLimited`, from a secondary limit's `retry-after` or
an exhausted primary limit's `x-ratelimit-reset`), fix the credential (:class:`GitHubAuthError`), try
later (:class:`GitHubUnavailable`), or give up (:class:`GitHubApiError`). The token is sent only to
the base URL's host: pagination follows `Link` headers on that host alone, and job logs, which GitHub
serves through a redirect to short-lived signed storage URLs, are fetched from there without it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any
from urllib.parse import urljoin, urlsplit

from pydantic import SecretStr

from oblivion_nexus.integrations.errors import IntegrationError
from oblivion_nexus.integrations.upstream import Upstream, UpstreamError, UpstreamResponse, UpstreamTimeout

logger = logging.getLogger(__name__)

DEFAULT_GITHUB_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
#: GitHub's largest page for list and search endpoints.
MAX_PER_PAGE = 100
# GitHub asks clients to wait at least a minute after a secondary limit that names no retry-after.
_DEFAULT_RETRY_AFTER_SECONDS = 60.0
_MAX_RETRY_AFTER_SECONDS = 3600.0


class GitHubError(IntegrationError):
    """Base of every GitHub failure."""


class GitHubApiError(GitHubError):
    """GitHub refused a request: HTTP `status`, its `message`, and the `errors` list of a 422."""

    def __init__(
        self, status: int, message: str, *, errors: Any = None, method: str = "", path: str = ""
    ) -> None:
        super().__init__(f"GitHub {method} {path} failed with HTTP {status}: {message}")
        self.status = status
        self.message = message
        self.errors = errors
        self.method = method
        self.path = path

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, message={self.message!r})"


class GitHubAuthError(GitHubApiError):
    """The token is missing, invalid or revoked (HTTP 401)."""


class GitHubRateLimited(GitHubError):
    """A primary or secondary rate limit: try again after `retry_after` seconds."""

    def __init__(self, retry_after: float, message: str) -> None:
        super().__init__(f"GitHub rate limit: {message}; retry after {retry_after:.0f} s")
        self.retry_after = retry_after
        self.message = message


class GitHubUnavailable(GitHubError):
    """GitHub could not be reached, timed out, or answered with a server error."""

    def __init__(self, reason: str, *, status: int | None = None) -> None:
        super().__init__(f"GitHub unavailable: {reason}")
        self.reason = reason
        self.status = status


def _body(response: UpstreamResponse) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc.lower()


class GitHubClient:
    """One credential's view of GitHub. Create per credential, close when done (or share an `http`
    pool, which follows no redirect: see job_logs)."""

    def __init__(
        self,
        token: SecretStr | str,
        *,
        base_url: str = DEFAULT_GITHUB_API_URL,
        http: Upstream | None = None,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._token = token if isinstance(token, SecretStr) else SecretStr(token)
        self.base_url = base_url.rstrip("/") + "/"
        self._origin = _origin(self.base_url)
        self._owns_http = http is None
        self._http = http or Upstream(timeout=timeout)
        self._clock = clock

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> GitHubClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self._token.get_secret_value()}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": "oblivion-tool-gateway",
        }

    def _url(self, path: str) -> str:
        url = urljoin(self.base_url, path.lstrip("/"))
        if _origin(url) != self._origin:
            raise GitHubApiError(400, "refusing a URL off the API host", path=path)
        return url

    async def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> UpstreamResponse:
        """One request to the API host; a 2xx or 3xx answer comes back, anything else is raised."""
        return await self._send(method, self._url(path), params=params, json=json, shown=path)

    async def _send(
        self, method: str, url: str, *, params: Mapping[str, Any] | None, json: Any, shown: str
    ) -> UpstreamResponse:
        try:
            response = await self._http.request(
                method, url, params=params, json=json, headers=self._headers()
            )
        except UpstreamTimeout as e:
            raise GitHubUnavailable(f"{method} {shown} timed out") from e
        except UpstreamError as e:
            raise GitHubUnavailable(f"{method} {shown}: {e.reason}") from e
        if response.status < 400:
            return response
        raise self._failure(response, method, shown)

    def _failure(self, response: UpstreamResponse, method: str, path: str) -> GitHubError:
        status = response.status
        body = _body(response)
        message = (
            str(body.get("message")) if isinstance(body, dict) else (response.text[:200] or response.reason)
        )
        errors = body.get("errors") if isinstance(body, dict) else None
        if status >= 500:
            return GitHubUnavailable(f"{method} {path} answered HTTP {status}", status=status)
        if status == 401:
            return GitHubAuthError(status, message, method=method, path=path)
        if status in (403, 429):
            retry_after = response.headers.get("retry-after")
            if retry_after is not None:
                return GitHubRateLimited(self._bounded(retry_after, 0.0), message)
            if response.headers.get("x-ratelimit-remaining") == "0":
                reset = response.headers.get("x-ratelimit-reset")
                return GitHubRateLimited(self._bounded(reset, self._clock()), message)
            if status == 429 or "rate limit" in message.lower():
                return GitHubRateLimited(_DEFAULT_RETRY_AFTER_SECONDS, message)
        return GitHubApiError(status, message, errors=errors, method=method, path=path)

    @staticmethod
    def _bounded(value: str | None, since: float) -> float:
        try:
            seconds = float(value or "") - since
        except ValueError:
            return _DEFAULT_RETRY_AFTER_SECONDS
        if not math.isfinite(seconds):
            return _DEFAULT_RETRY_AFTER_SECONDS
        return min(max(seconds, 1.0), _MAX_RETRY_AFTER_SECONDS)

    async def json(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json: Any = None
    ) -> Any:
        response = await self.send(method, path, params=params, json=json)
        return _body(response) if response.content else None

    async def paginate(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        limit: int = 30,
        items_key: str | None = None,
    ) -> tuple[list[Any], bool]:
        """Up to `limit` items of a list (or of `items_key` in a search answer), following `Link: rel=next`
        on the API host only; also says whether more were left."""
        items: list[Any] = []
        query = {**(params or {}), "per_page": min(max(limit, 1), MAX_PER_PAGE)}
        url: str | None = self._url(path)
        shown = path
        while url is not None and len(items) < limit:
            response = await self._send("GET", url, params=query, json=None, shown=shown)
            body = _body(response)
            page = body.get(items_key, []) if items_key and isinstance(body, dict) else body
            if not isinstance(page, list):
                raise GitHubApiError(response.status, "expected a list", method="GET", path=path)
            items.extend(page)
            url = response.links.get("next", {}).get("url")
            if url is not None and _origin(url) != self._origin:
                logger.warning("GitHub GET %s: not following a next page off the API host", path)
                return items[:limit], True
            query = {}  # the next link carries the whole query
        return items[:limit], url is not None or len(items) > limit

    async def text_behind_redirect(self, path: str, *, max_bytes: int) -> tuple[str, bool]:
        """A text GitHub serves through a redirect (job logs): the redirect is followed once, to an
        http(s) URL, without the token; at most `max_bytes` are read. Says whether it was cut."""
        response = await self.send("GET", path)
        location = response.headers.get("location")
        if response.status not in (301, 302, 303, 307, 308) or not location:
            return response.text[:max_bytes], len(response.content) > max_bytes
        target = urljoin(response.url, location)
        if urlsplit(target).scheme not in ("http", "https"):
            raise GitHubApiError(502, "redirected to a non-HTTP URL", method="GET", path=path)
        try:
            blob = await self._http.request(
                "GET", target, headers={"User-Agent": "oblivion-tool-gateway"}, max_bytes=max_bytes
            )
        except UpstreamError as e:
            raise GitHubUnavailable(f"GET {path} (log storage): {e.reason}") from e
        if blob.status >= 400:
            raise GitHubApiError(blob.status, "log storage refused the download", method="GET", path=path)
        return blob.text, blob.truncated
