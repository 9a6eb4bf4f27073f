"""Access tokens for Nexus through OAuth2 client credentials (RFC 6749 §4.4).

Tokens are short-lived JWTs; the runtime needs one at every (re)connect. ``TokenSource`` keeps the
current one and, once 80 % of its lifetime has passed, fetches a new one on the next use, so a token
is never presented close to its expiry; ``invalidate()`` forces a fetch after Nexus rejected one.
The token and the client secret never reach a log line or an exception message.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from oblivion_agent._errors import TokenError

logger = logging.getLogger(__name__)

# Refresh once this fraction of a token's lifetime has passed: late enough to fetch rarely, early
# enough that clock skew and a slow token endpoint never leave the runtime holding an expired token.
REFRESH_FRACTION = 0.8
# RFC 6749 makes expires_in optional; without it assume a lifetime short enough to be safe.
DEFAULT_EXPIRES_IN = 300.0


@dataclass(frozen=True)
class AccessToken:
    value: SecretStr = field(repr=False)
    issued_at: float
    expires_in: float

    @property
    def refresh_at(self) -> float:
        return self.issued_at + self.expires_in * REFRESH_FRACTION

    @property
    def expires_at(self) -> float:
        return self.issued_at + self.expires_in


def basic_credentials(client_id: str, client_secret: str) -> httpx.BasicAuth:
    """HTTP Basic client authentication; RFC 6749 §2.3.1 form-encodes both parts first."""
    return httpx.BasicAuth(quote(client_id, safe=""), quote(client_secret, safe=""))


class TokenSource:
    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: SecretStr,
        http: httpx.AsyncClient,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._http = http
        self._clock = clock
        self._current: AccessToken | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0

    @property
    def current(self) -> AccessToken | None:
        return self._current

    def seconds_until_refresh(self) -> float:
        """How long the current token is still fresh; 0 when there is none or it is due."""
        if self._current is None:
            return 0.0
        return max(0.0, self._current.refresh_at - self._clock())

    def invalidate(self) -> None:
        """Forget the current token (Nexus rejected it); the next ``get()`` fetches a new one."""
        self._current = None

    async def get(self) -> str:
        """A token that is not yet due for refresh, fetching one if needed."""
        async with self._lock:
            if self._current is None or self._clock() >= self._current.refresh_at:
                self._current = await self._fetch()
            return self._current.value.get_secret_value()

    async def _fetch(self) -> AccessToken:
        issued_at = self._clock()
        try:
            response = await self._http.post(
                self._token_url,
                data={"grant_type": "client_credentials"},
                auth=basic_credentials(self._client_id, self._client_secret.get_secret_value()),
                headers={"Accept": "application/json"},
            )
        except httpx.HTTPError as e:
            raise TokenError(f"token endpoint {self._token_url} unreachable: {type(e).__name__}") from e
        self.fetches += 1
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict):
            raise _refusal(response.status_code, body)
        value = body.get("access_token")
        token_type = body.get("token_type", "")
        if not isinstance(value, str) or not value or str(token_type).lower() != "bearer":
            raise TokenError("token endpoint answered without a Bearer access_token", status=200)
        expires_in = body.get("expires_in", DEFAULT_EXPIRES_IN)
        if not isinstance(expires_in, int | float) or isinstance(expires_in, bool) or expires_in <= 0:
            raise TokenError(f"token endpoint answered an invalid expires_in: {expires_in!r}", status=200)
        logger.debug("got an access token valid for %s s", expires_in)
        return AccessToken(SecretStr(value), issued_at, float(expires_in))


def _refusal(status: int, body: object) -> TokenError:
    """A TokenError from an RFC 6749 §5.2 error answer: its code and description, which hold no secret."""
    fields = body if isinstance(body, dict) else {}
    error = fields.get("error") if isinstance(fields.get("error"), str) else None
    description = (
        fields.get("error_description") if isinstance(fields.get("error_description"), str) else None
    )
    message = f"token endpoint answered {status}"
    if error:
        message += f" ({error}{': ' + description[:200] if description else ''})"
    if status == 401:
        message += "; is the agent registered in Nexus, enabled, and holding this client id and secret?"
    return TokenError(message, status=status, error=error)
