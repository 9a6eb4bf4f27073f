"""The Slack and ClickUp clients of the task flow, made from settings once per process.

Both vendors are optional at start-up (a Nexus may run without ClickUp), so a flow that needs a
missing one gets :class:`MissingSetting` naming the variable, at the moment it needs it.
"""

from __future__ import annotations

import logging

from oblivion_nexus.errors import NexusError
from oblivion_nexus.integrations.clickup import ClickUpClient
from oblivion_nexus.integrations.slack import SlackClient
from oblivion_nexus.resources import Resources
from oblivion_nexus.settings import NexusSettings
from oblivion_nexus.stores.queue import QueueSettings, WebhookQueue

logger = logging.getLogger(__name__)


class FlowError(NexusError):
    """Base of every error of the task flow (ingestion, worker, mirroring)."""


class MissingSetting(FlowError):
    """A setting the flow needs right now is not configured; ``variable`` names it."""

    def __init__(self, variable: str, why: str) -> None:
        super().__init__(f"{variable} is not set; it is needed to {why}")
        self.variable = variable


def make_slack(settings: NexusSettings) -> SlackClient | None:
    token = settings.slack_bot_token
    return SlackClient(token, base_url=settings.slack_api_url) if token is not None else None


def make_clickup(settings: NexusSettings) -> ClickUpClient | None:
    token = settings.clickup_token
    return ClickUpClient(token, base_url=settings.clickup_api_url) if token is not None else None


def make_webhook_queue(settings: NexusSettings) -> WebhookQueue:
    return WebhookQueue(
        QueueSettings(
            redis_url=settings.redis_url,
            prefix=settings.redis_prefix,
            dedupe_seconds=settings.webhook_dedupe_seconds,
            attempts=settings.worker_attempts,
            enqueue_timeout=settings.queue_enqueue_timeout_seconds,
        )
    )


async def close_clients(
    slack: SlackClient | None, clickup: ClickUpClient | None, queue: WebhookQueue | None
) -> None:
    if slack is not None:
        await slack.aclose()
    if clickup is not None:
        await clickup.aclose()
    if queue is not None:
        await queue.close()


def require_slack(resources: Resources) -> SlackClient:
    if resources.slack is None:
        raise MissingSetting("OBLIVION_SLACK_BOT_TOKEN", "post in Slack")
    return resources.slack


def require_clickup(resources: Resources) -> ClickUpClient:
    if resources.clickup is None:
        raise MissingSetting("OBLIVION_CLICKUP_TOKEN", "read and comment on ClickUp tasks")
    return resources.clickup
