"""The one base error of Nexus, so callers can catch everything Nexus raises on purpose, and the base
of the errors that say how a request running into them is answered.

Third-party errors are wrapped (``raise SomeNexusError(...) from e``) where they cross a layer.

A :class:`ServiceError` carries its answer, because the layer that raises it is the one that knows:
``status`` (the HTTP status), ``detail`` (what the caller may be told: never a secret, never the
internals of an outage) and ``retry_after`` (seconds, when waiting helps). The API turns it into a
response in one place (:mod:`oblivion_nexus.api.errors`); no route translates an error by hand. Any
other :class:`NexusError` reaching a request (a store failing, a vendor's error nobody wrapped) has
no designed answer and is reported as the fault it is. The vendors' errors keep their own ``status``
and ``retry_after``: what Slack or GitHub answered, which is not what Nexus's caller is told.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


class NexusError(Exception):
    """Base of every error Nexus raises deliberately."""


class ServiceError(NexusError):
    """An error a request is answered with: ``status``, ``detail``, ``retry_after``.

    ``detail`` defaults to the message; a subclass whose message is for the log only sets a safer
    one. ``headers`` are the response headers a protocol asks for beside the status (an RFC 6750
    challenge with a 401), ``Retry-After`` excepted: that one comes from ``retry_after``. ``status``
    500 means the answer is "a fault": it is reported as one, with its traceback.
    """

    status: int = 500
    retry_after: float | None = None
    headers: Mapping[str, str] = _NO_HEADERS

    def __init__(
        self,
        *args: object,
        detail: Any = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(*args)
        self.detail: Any = detail if detail is not None else (str(args[0]) if args else type(self).__name__)
        if status is not None:
            self.status = status
        if retry_after is not None:
            self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        """The JSON body of the answer: ``{"detail": …}`` unless a protocol defines its own shape."""
        return {"detail": self.detail}
