"""The task flow's errors: one base for ingestion, the worker and mirroring, and a missing setting.

Slack and ClickUp are optional at start-up (a Nexus may run without ClickUp), so a flow that needs a
missing one raises :class:`MissingSetting` naming the variable, at the moment it needs it.
"""

from __future__ import annotations

from oblivion_nexus.errors import NexusError


class FlowError(NexusError):
    """Base of every error of the task flow (ingestion, worker, mirroring)."""


class MissingSetting(FlowError):
    """A setting the flow needs right now is not configured; ``variable`` names it."""

    def __init__(self, variable: str, why: str) -> None:
        super().__init__(f"{variable} is not set; it is needed to {why}")
        self.variable = variable
