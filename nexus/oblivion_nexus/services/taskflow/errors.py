"""The task flow's errors: one base for ingestion, the worker and mirroring, and a missing setting.

Slack and ClickUp are optional at start-up (a Nexus may run without ClickUp), so a flow that needs a
missing one raises :class:`MissingSetting` naming the variable, at the moment it needs it.
"""

from __future__ import annotations

from oblivion_nexus.errors import ServiceError


class FlowError(ServiceError):
    """Base of every error of the task flow (ingestion, worker, mirroring).

    A request that runs into one is answered 503 with ``Retry-After``: what failed (Redis,
    PostgreSQL, a vendor, a setting) can come back, and a webhook's sender retries a 503. The
    message, which may name the failing part, is for the log; the caller is told no more than that.
    """

    status = 503
    retry_after = 5.0

    def __init__(self, *args: object) -> None:
        super().__init__(*args, detail="temporarily unavailable")


class MissingSetting(FlowError):
    """A setting the flow needs right now is not configured; ``variable`` names it (to the caller too:
    a variable's name is no secret, and it tells the platform team what to fix)."""

    def __init__(self, variable: str, why: str) -> None:
        super().__init__(f"{variable} is not set; it is needed to {why}")
        self.detail = str(self)
        self.variable = variable
