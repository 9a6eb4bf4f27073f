"""API errors of the emulator, rendered as the standard `kind: Status` bodies of the real API server.

Clients branch on `reason` and `code` (kopf retries on 409/422, the official client raises
`ApiException(status=...)`, kubectl prints `message`), so every refusal carries all three.
"""

from __future__ import annotations

from typing import Any

from tests.kube.resources import ResourceType


class EmulatorError(Exception):
    """The base error of the emulator package."""


class ApiError(EmulatorError):
    """A refusal the emulator answers with a Status body."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details or {}

    def __repr__(self) -> str:
        return f"ApiError(code={self.code}, reason={self.reason!r}, message={self.message!r})"

    def status_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


def _details(rtype: ResourceType, name: str) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name, "kind": rtype.plural}
    if rtype.group:
        details["group"] = rtype.group
    return details


def not_found(rtype: ResourceType, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{rtype.qualified_plural} "{name}" not found', _details(rtype, name))


def already_exists(rtype: ResourceType, name: str) -> ApiError:
    return ApiError(
        409, "AlreadyExists", f'{rtype.qualified_plural} "{name}" already exists', _details(rtype, name)
    )


def conflict(rtype: ResourceType, name: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {rtype.qualified_plural} "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again",
        _details(rtype, name),
    )


def invalid(rtype: ResourceType, name: str, message: str) -> ApiError:
    return ApiError(422, "Invalid", f'{rtype.kind} "{name}" is invalid: {message}', _details(rtype, name))


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def no_such_path(path: str) -> ApiError:
    return ApiError(404, "NotFound", f"the server could not find the requested resource ({path})")
