"""The Slack and ClickUp clients of the task flow (opened by ``resources.open_resources``), or the
:class:`MissingSetting` that names the variable when the flow needs a vendor Nexus runs without.
"""

from __future__ import annotations

from oblivion_nexus.integrations.clickup import ClickUpClient
from oblivion_nexus.integrations.slack import SlackClient
from oblivion_nexus.resources import Resources
from oblivion_nexus.services.taskflow.errors import MissingSetting


def require_slack(resources: Resources) -> SlackClient:
    if resources.slack is None:
        raise MissingSetting("OBLIVION_SLACK_BOT_TOKEN", "post in Slack")
    return resources.slack


def require_clickup(resources: Resources) -> ClickUpClient:
    if resources.clickup is None:
        raise MissingSetting("OBLIVION_CLICKUP_TOKEN", "read and comment on ClickUp tasks")
    return resources.clickup
