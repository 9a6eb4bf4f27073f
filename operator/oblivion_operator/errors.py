"""The operator's one base error, and the failures of the outside systems it reconciles against.

Clients wrap third-party errors into these (``raise … from e``) so handlers decide retry or give-up on
one small vocabulary: ``retryable`` failures become ``kopf.TemporaryError``, the rest permanent.
"""

from __future__ import annotations


class OperatorError(Exception):
    """Base of every error the operator raises on purpose."""


class ExternalError(OperatorError):
    """A call to Kubernetes, Slack, Qdrant or Nexus failed."""

    def __init__(
        self,
        system: str,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        retryable: bool = True,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{system}: {message}")
        self.system = system
        self.message = message
        self.status = status
        self.code = code
        self.retryable = retryable
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(system={self.system!r}, message={self.message!r}, "
            f"status={self.status!r}, code={self.code!r}, retryable={self.retryable!r}, "
            f"retry_after={self.retry_after!r})"
        )


class NotFound(ExternalError):
    """The object asked for does not exist."""

    def __init__(self, system: str, message: str, *, code: str | None = None) -> None:
        super().__init__(system, message, status=404, code=code, retryable=False)
