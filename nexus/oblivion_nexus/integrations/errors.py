"""The one error family of Nexus's clients of the outside world (Slack, ClickUp).

Callers catch :class:`IntegrationError` to handle any vendor failure, or a subclass to react to one
kind (back off on a rate limit, stop on bad credentials). Messages never carry a token or secret.
"""

from __future__ import annotations

from oblivion_nexus.errors import NexusError, ServiceError


class IntegrationError(NexusError):
    """Something outside Nexus (Slack, ClickUp) failed or sent something Nexus cannot use."""


class MalformedPayload(IntegrationError, ServiceError):
    """An inbound webhook body is not the shape the vendor documents; ``reason`` says what is wrong.

    Answered 400 with the reason: resending the same body would not help.
    """

    status = 400

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"malformed {source} payload: {reason}", detail=reason)
        self.source = source
        self.reason = reason

    def __repr__(self) -> str:
        return f"MalformedPayload(source={self.source!r}, reason={self.reason!r})"
