"""What the Memory Bank's callers are told when a search cannot be answered.

Each error carries the HTTP ``status`` the API answers with, a ``detail`` safe to show the caller
and, for an outage, ``retry_after`` seconds.
"""

from __future__ import annotations

from oblivion_nexus.errors import ServiceError


class MemoryBankError(ServiceError):
    """A search or ingestion step the Memory Bank refused or could not do."""

    status = 500

    def __init__(self, detail: str, *, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.detail!r}, status={self.status})"


class MemoryForbidden(MemoryBankError):
    """The caller's token does not allow a project it asked to search."""

    status = 403


class InvalidSearch(MemoryBankError):
    """The search itself is malformed (an empty or too long query, a limit out of range)."""

    status = 422


class MemoryUnavailable(MemoryBankError):
    """The embedder, the vector store or (embedded engine) the worker holding it did not answer."""

    status = 503

    def __init__(self, detail: str, *, retry_after: float | None = 5.0) -> None:
        super().__init__(detail, retry_after=retry_after)
