"""The agent SDK's errors: one base class, so a runtime can catch everything the SDK raises."""

from __future__ import annotations


class AgentError(Exception):
    """Base of every error the agent SDK raises."""


class ConfigurationError(AgentError):
    """A setting is missing or malformed; the message names the environment variable."""


class HandlerError(AgentError):
    """A handler was registered wrongly (not a coroutine function, or a second one for a type)."""


class TokenError(AgentError):
    """Nexus's token endpoint refused to issue an access token, or could not be reached.

    ``status`` is the HTTP status (``None`` when Nexus was unreachable) and ``error`` the OAuth2 error
    code from the answer (RFC 6749 §5.2), e.g. ``invalid_client``.
    """

    def __init__(self, message: str, *, status: int | None = None, error: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error = error

    def __repr__(self) -> str:
        return f"TokenError({self.args[0]!r}, status={self.status!r}, error={self.error!r})"


class AgentDisabledError(AgentError):
    """Nexus closed the connection with 4403: the agent is disabled or unknown, retrying is pointless."""

    def __init__(self, reason: str = "") -> None:
        detail = f" ({reason})" if reason else ""
        super().__init__(
            f"Nexus refused this agent{detail}: it is disabled or not registered. Check the Agent "
            "resource and its registration in Nexus; the runtime stops instead of retrying."
        )
        self.reason = reason
