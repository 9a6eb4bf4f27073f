"""ClickUp webhooks that Nexus makes and keeps alive, one per registered project's list.

ClickUp reveals a webhook's signing secret only in the answer to its creation, so it is sealed at
once (AES-GCM under the master key, bound to the webhook id) and used by ``webhooks`` to verify that
webhook's deliveries. ClickUp suspends a webhook after repeated failed deliveries and then sends
nothing; the periodic check re-activates (or recreates) it and re-reads the list's tasks changed
since the last event, so a task created meanwhile is not lost.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update

from oblivion_nexus.integrations.clickup import ClickUpError
from oblivion_nexus.integrations.errors import IntegrationError
from oblivion_nexus.services.taskflow import comments, intake
from oblivion_nexus.services.taskflow.clients import require_clickup
from oblivion_nexus.services.taskflow.context import FlowContext
from oblivion_nexus.services.taskflow.errors import FlowError, MissingSetting
from oblivion_nexus.services.taskflow.webhooks import webhook_secret_name
from oblivion_nexus.stores import tables as t

logger = logging.getLogger(__name__)

WEBHOOK_EVENTS = (
    "taskCreated",
    "taskUpdated",
    "taskDeleted",
    "taskStatusUpdated",
    "taskAssigneeUpdated",
    "taskTagUpdated",
    "taskCommentPosted",
    "taskCommentUpdated",
)
# The first catch-up of a webhook without any event looks back this far.
_FIRST_CATCH_UP = timedelta(hours=1)


def webhook_endpoint(public_url: str) -> str:
    return public_url.rstrip("/") + "/webhooks/clickup"


async def ensure_project_webhooks(flow: FlowContext) -> int:
    """Create the webhook of every active project with a list that has none yet; returns how many."""
    resources = flow.resources
    team_id = resources.settings.clickup.team_id
    if team_id is None:
        raise MissingSetting("OBLIVION_CLICKUP_TEAM_ID", "create ClickUp webhooks")
    clickup = require_clickup(resources)
    async with resources.sessionmaker() as session:
        have = select(t.ClickUpWebhook.project).where(t.ClickUpWebhook.workgroup == t.Project.workgroup)
        projects = (
            await session.execute(
                select(t.Project.workgroup, t.Project.name, t.Project.clickup_list_id).where(
                    t.Project.archived.is_(False),
                    t.Project.clickup_list_id.is_not(None),
                    t.Project.name.not_in(have),
                )
            )
        ).all()
    endpoint = webhook_endpoint(resources.settings.http.public_url)
    created = 0
    for workgroup, project, list_id in projects:
        hook = await clickup.create_webhook(team_id, endpoint, WEBHOOK_EVENTS, list_id=list_id)
        if hook.secret is None:
            raise FlowError(f"ClickUp created webhook {hook.id} without a secret")
        sealed = resources.master_keys.seal(
            hook.secret.get_secret_value(), workgroup=workgroup, name=webhook_secret_name(hook.id)
        )
        async with resources.sessionmaker() as session:
            session.add(
                t.ClickUpWebhook(
                    webhook_id=hook.id,
                    workgroup=workgroup,
                    project=project,
                    list_id=list_id,
                    endpoint=endpoint,
                    secret_ciphertext=sealed.ciphertext,
                    secret_nonce=sealed.nonce,
                    secret_key_id=sealed.key_id,
                    status="active",
                    checked_at=datetime.now(UTC),
                )
            )
            await session.commit()
        created += 1
        logger.info("ClickUp webhook %s created for %s/%s (list %s)", hook.id, workgroup, project, list_id)
    return created


async def check_webhooks(flow: FlowContext) -> int:
    """Re-activate suspended webhooks, recreate vanished ones, catch up on their lists.

    Returns how many tasks were re-read.
    """
    resources = flow.resources
    team_id = resources.settings.clickup.team_id
    if team_id is None:
        raise MissingSetting("OBLIVION_CLICKUP_TEAM_ID", "check ClickUp webhooks")
    clickup = require_clickup(resources)
    remote = {hook.id: hook for hook in await clickup.list_webhooks(team_id)}
    async with resources.sessionmaker() as session:
        rows = (await session.execute(select(t.ClickUpWebhook))).scalars().all()
        ours = [(r.webhook_id, r.list_id, r.last_event_at, r.checked_at) for r in rows]
    reread = 0
    for webhook_id, list_id, last_event_at, checked_at in ours:
        hook = remote.get(webhook_id)
        suspended = hook is None or hook.is_suspended
        if hook is None:
            logger.warning("ClickUp webhook %s is gone; recreating it", webhook_id)
            async with resources.sessionmaker() as session:
                await session.execute(
                    delete(t.ClickUpWebhook).where(t.ClickUpWebhook.webhook_id == webhook_id)
                )
                await session.commit()
            await ensure_project_webhooks(flow)
        elif hook.is_suspended:
            logger.warning("ClickUp webhook %s was suspended; re-activating it", webhook_id)
            await clickup.update_webhook(webhook_id, status="active")
        if suspended:
            since = last_event_at or checked_at or datetime.now(UTC) - _FIRST_CATCH_UP
            reread += await catch_up(flow, list_id, since)
        async with resources.sessionmaker() as session:
            await session.execute(
                update(t.ClickUpWebhook)
                .where(t.ClickUpWebhook.webhook_id == webhook_id)
                .values(checked_at=datetime.now(UTC), status="active")
            )
            await session.commit()
    return reread


async def catch_up(flow: FlowContext, list_id: str, since: datetime) -> int:
    """Take every task of the list updated after ``since`` and carry its newer comments (both
    idempotent); returns how many tasks were re-read."""
    clickup = require_clickup(flow.resources)
    since_ms = int(since.timestamp() * 1000)
    count = 0
    async for task in clickup.iter_list_tasks(list_id, date_updated_gt=since_ms):
        await intake.take_task(flow, task, list_id=list_id)
        await comments.catch_up_comments(flow, task.id, since_ms)
        count += 1
    logger.info("caught up on list %s since %s: %d task(s) re-read", list_id, since.isoformat(), count)
    return count


async def keep_webhooks(flow: FlowContext, interval: float) -> None:
    """Run ``ensure`` and ``check`` every ``interval`` seconds until cancelled; failures are logged."""
    settings = flow.resources.settings
    if settings.clickup.token is None or settings.clickup.team_id is None:
        logger.info("ClickUp webhooks are not managed: OBLIVION_CLICKUP_TOKEN or _TEAM_ID is not set")
        return
    while True:
        try:
            await ensure_project_webhooks(flow)
            await check_webhooks(flow)
        except (ClickUpError, IntegrationError, FlowError) as e:
            logger.warning("ClickUp webhook check failed; next try in %.0f s: %s", interval, e)
        except Exception:
            logger.exception("ClickUp webhook check failed unexpectedly")
        await asyncio.sleep(interval)
