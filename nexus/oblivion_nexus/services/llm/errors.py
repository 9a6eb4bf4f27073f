"""Why the model gateway refused or failed a call: each error carries the HTTP status, OpenAI's error
``type`` and, where waiting helps, ``retry_after`` seconds."""

from __future__ import annotations

from typing import Any

from oblivion_nexus.errors import ServiceError


class ModelGatewayError(ServiceError):
    status = 400
    error_type = "invalid_request_error"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_type: str | None = None,
        retry_after: float | None = None,
        upstream_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if error_type is not None:
            self.error_type = error_type
        self.retry_after = retry_after
        self.upstream_status = upstream_status

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.status}, {self.message!r})"

    def body(self) -> dict[str, Any]:
        """Agents read the gateway's errors as OpenAI's clients do."""
        return self.as_openai_error()

    def as_openai_error(self) -> dict[str, Any]:
        """The body OpenAI's clients read: ``{"error": {message, type, code, param}}``."""
        error: dict[str, Any] = {
            "message": self.message,
            "type": self.error_type,
            "code": self.error_type,
            "param": None,
        }
        if self.upstream_status is not None:
            error["upstream_status"] = self.upstream_status
        return {"error": error}


class ModelRefused(ModelGatewayError):
    """The agent asked for a model its Agent resource does not name, or was given none."""

    status = 403
    error_type = "permission_error"


class TaskNotAssigned(ModelGatewayError):
    """The call names a task the agent may not spend on (unknown, or not assigned to it)."""

    status = 403
    error_type = "permission_error"


class BudgetExceeded(ModelGatewayError):
    status = 429
    error_type = "budget_exceeded"


class ModelUnavailable(ModelGatewayError):
    """The workgroup has no usable credential for the model: a platform team must fix the resources."""

    status = 503
    error_type = "model_unavailable"


class UpstreamFailed(ModelGatewayError):
    """The provider failed or refused; ``upstream_status`` is what it answered."""

    status = 502
    error_type = "upstream_error"
