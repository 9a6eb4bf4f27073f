"""The Slack and ClickUp clients of the task flow (opened by ``resources.open_resources``).

Both vendors are optional at start-up (a Nexus may run without ClickUp), so a flow that needs a
missing one gets :class:`MissingSetting` naming the variable, at the moment it needs it.
"""

from __future__ import annotations

import logging

from oblivion_nexus.errors import NexusError
from oblivion_nexus.integrations.clickup import ClickUpClient
from oblivion_nexus.integrations.slack import SlackClient
from oblivion_nexus.resources import Resources

logger = logging.getLogger(__name__)


class FlowError(NexusError):
    """Base of every error of the task flow (ingestion, worker, mirroring)."""


class MissingSetting(FlowError):
    """A setting the flow needs right now is not configured; ``variable`` names it."""

    def __init__(self, variable: str, why: str) -> None:
        super().__init__(f"{variable} is not set; it is needed to {why}")
        self.variable = variable


def require_slack(resources: Resources) -> SlackClient:
    if resources.slack is None:
        raise MissingSetting("OBLIVION_SLACK_BOT_TOKEN", "post in Slack")
    return resources.slack


def require_clickup(resources: Resources) -> ClickUpClient:
    if resources.clickup is None:
        raise MissingSetting("OBLIVION_CLICKUP_TOKEN", "read and comment on ClickUp tasks")
    return resources.clickup
