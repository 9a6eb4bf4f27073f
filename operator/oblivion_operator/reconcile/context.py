"""What every reconcile flow shares: settings, the four clients, per-object locks, workgroup lookup."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from typing import Any

import kopf

from oblivion_operator.clients.kube import KubeClient
from oblivion_operator.clients.nexus import NexusClient
from oblivion_operator.clients.qdrant import QdrantStore
from oblivion_operator.clients.slack import SlackChannels
from oblivion_operator.errors import NotFound, OperatorError
from oblivion_operator.models import WORKGROUP_LABEL, SlackChannelRef
from oblivion_operator.render import NexusEndpoint
from oblivion_operator.settings import OperatorSettings
from oblivion_operator.status import ConditionUpdate, get_condition

logger = logging.getLogger(__name__)
SLACK_CHANNEL = "SlackChannel"  # condition type of Workgroups and Projects
HOW_TO_CONFIGURE_SLACK = (
    "set OBLIVION_SLACK_BOT_TOKEN (chart value secrets.slackBotToken) and restart the operator"
)


class Blocked(OperatorError):
    """The resource cannot become ready until something outside it changes (retried, not an error)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


# How long a namespace checked to be its workgroup's is taken as such (a Workgroup's namespace cannot
# change; the workgroup can be deleted and made again elsewhere).
_OWNER_CHECK_SECONDS = 300.0


@dataclasses.dataclass
class OperatorContext:
    """Created once per operator run; clients are opened in kopf's event loop at start-up."""

    settings: OperatorSettings
    kube_connection: kopf.ConnectionInfo | None = None  # else the one kopf logs in with
    _kube: KubeClient | None = None
    _slack: SlackChannels | None = None
    _qdrant: QdrantStore | None = None
    _nexus: NexusClient | None = None
    locks: dict[tuple[str, str | None, str], asyncio.Lock] = dataclasses.field(default_factory=dict)
    # namespace → (its workgroup, until when that is taken as checked): see _check_owner
    _owners: dict[str, tuple[str, float]] = dataclasses.field(default_factory=dict)

    async def open(self) -> None:
        s = self.settings
        if s.slack_bot_token is not None:
            self._slack = SlackChannels(s.slack_bot_token.get_secret_value(), s.slack_api_url)
        else:
            logger.warning(
                "No Slack bot token: Workgroups and Projects are reconciled without Slack channels; "
                f"to get channels, {HOW_TO_CONFIGURE_SLACK}"
            )
        self._qdrant = QdrantStore(
            url=s.qdrant_url,
            path=s.qdrant_path,
            api_key=s.qdrant_api_key.get_secret_value() if s.qdrant_api_key else None,
        )
        self._nexus = NexusClient(s.nexus_url, s.admin_token.get_secret_value())
        if self.kube_connection is not None:
            self._kube = KubeClient(self.kube_connection)

    def connect_kube(self, info: kopf.ConnectionInfo) -> None:
        """Use the credentials kopf logged in with (called from the login handler)."""
        if self._kube is None:
            self.kube_connection = info
            self._kube = KubeClient(info)

    async def close(self) -> None:
        for client in (self._kube, self._slack, self._qdrant, self._nexus):
            if client is not None:
                await client.aclose()
        self._kube = self._slack = self._qdrant = self._nexus = None

    @property
    def kube(self) -> KubeClient:
        if self._kube is None:
            raise OperatorError("the Kubernetes client is not connected yet (no login happened)")
        return self._kube

    @property
    def slack_configured(self) -> bool:
        return self.settings.slack_configured

    @property
    def slack(self) -> SlackChannels:
        assert self._slack is not None, "OperatorContext.open() was not called, or Slack is not configured"
        return self._slack

    @property
    def qdrant(self) -> QdrantStore:
        assert self._qdrant is not None, "OperatorContext.open() was not called"
        return self._qdrant

    @property
    def nexus(self) -> NexusClient:
        assert self._nexus is not None, "OperatorContext.open() was not called"
        return self._nexus

    @property
    def nexus_endpoint(self) -> NexusEndpoint:
        s = self.settings
        return NexusEndpoint(
            namespace=s.nexus_namespace, pod_labels=dict(s.nexus_pod_labels), port=s.nexus_port
        )

    def lock(self, kind: str, namespace: str | None, name: str) -> asyncio.Lock:
        """One lock per object, so a drift timer and a change handler never reconcile it at once."""
        return self.locks.setdefault((kind, namespace, name), asyncio.Lock())

    def forget(self, kind: str, namespace: str | None, name: str) -> None:
        self.locks.pop((kind, namespace, name), None)

    async def workgroup_of(self, namespace: str) -> str:
        """The workgroup owning ``namespace`` (its ``oblivion.dev/workgroup`` label)."""
        ns = await self.kube.get(f"/api/v1/namespaces/{namespace}")
        workgroup = ((ns or {}).get("metadata", {}).get("labels") or {}).get(WORKGROUP_LABEL)
        if not workgroup:
            raise Blocked(
                "NotInWorkgroup",
                f"namespace {namespace} belongs to no Workgroup (it has no {WORKGROUP_LABEL} label); "
                "create the resource in a workgroup's namespace",
            )
        await self._check_owner(str(workgroup), namespace)
        return str(workgroup)

    async def _check_owner(self, workgroup: str, namespace: str) -> None:
        """Refuse a namespace labelled for ``workgroup`` that is not that workgroup's namespace.

        Anyone who may label namespaces could otherwise move resources into another team: an Agent
        registered under its name, a credential among its credentials. Which namespace a workgroup
        has is the operator's to say (from its Workgroup resource, registered in Nexus, which only the
        operator's admin token writes), so the registration is the authority, not the label.
        """
        now = time.monotonic()
        owner, until = self._owners.get(namespace, ("", 0.0))
        if owner == workgroup and until > now:
            return
        registered = await self.nexus.get_workgroup(workgroup)
        if registered is None:
            raise Blocked(
                "WorkgroupNotRegistered",
                f"namespace {namespace} is labelled for workgroup {workgroup}, which is not registered "
                "in Nexus yet (its Workgroup's reconcile registers it)",
            )
        if registered.get("namespace") != namespace:
            raise Blocked(
                "NamespaceNotOwned",
                f"namespace {namespace} is labelled {WORKGROUP_LABEL}={workgroup}, but workgroup "
                f"{workgroup}'s namespace is {registered.get('namespace')}: a label does not make a "
                "namespace a workgroup's; create the resource in the workgroup's own namespace",
            )
        self._owners[namespace] = (workgroup, now + _OWNER_CHECK_SECONDS)

    async def workgroup_or_none(self, namespace: str) -> str | None:
        """Like ``workgroup_of`` but None for a namespace that is gone or unlabelled (for deletions)."""
        try:
            return await self.workgroup_of(namespace)
        except Blocked:
            return None

    async def reconcile_channel(
        self,
        ref: SlackChannelRef,
        default_name: str,
        old_status: dict[str, Any],
        logger: Any,
        *,
        archived: bool = False,
    ) -> tuple[str | None, ConditionUpdate]:
        """The channel id to record and register, and the ``SlackChannel`` condition saying how it stands.

        Without a Slack token nothing is called: a channel named by ``channelId`` (or recorded by an
        earlier run) is kept but unverified (``Unknown``/``NotVerified``); otherwise there is none
        (``False``/``SlackNotConfigured``). Either is logged (and posted as an Event) only when it
        first appears, so a drift timer does not repeat it.
        """
        recorded = old_status.get("slackChannelId")
        if not self.slack_configured:
            channel_id = ref.channel_id or recorded
            if channel_id:
                undone = "archived or verified" if archived else "verified"
                condition = ConditionUpdate(
                    SLACK_CHANNEL,
                    "Unknown",
                    "NotVerified",
                    f"Slack channel {channel_id} is recorded but not {undone}: no Slack bot token is "
                    f"configured; {HOW_TO_CONFIGURE_SLACK}",
                )
            else:
                condition = ConditionUpdate(
                    SLACK_CHANNEL,
                    False,
                    "SlackNotConfigured",
                    f"no Slack channel: no Slack bot token is configured; to get channels, "
                    f"{HOW_TO_CONFIGURE_SLACK}",
                )
            previous = get_condition(old_status, SLACK_CHANNEL) or {}
            if previous.get("reason") != condition.reason:
                logger.info(condition.message)
            return channel_id, condition
        channel_id = await self.ensure_channel(ref, default_name, recorded, logger, archived=archived)
        state = "archived" if archived else "in place"
        return channel_id, ConditionUpdate(
            SLACK_CHANNEL,
            True,
            "ChannelArchived" if archived else "ChannelReady",
            f"Slack channel {channel_id} is {state}",
        )

    async def archive_recorded_channel(self, channel_id: str | None, logger: Any) -> None:
        """Archive a deleted resource's channel (``retentionPolicy: Delete``); without Slack, say so."""
        if not channel_id:
            return
        if not self.slack_configured:
            logger.warning(
                f"Slack channel {channel_id} was left unarchived: no Slack bot token is configured"
            )
            return
        await self.slack.archive(channel_id)
        logger.info(f"Archived Slack channel {channel_id}")

    async def ensure_channel(
        self,
        ref: SlackChannelRef,
        default_name: str,
        recorded_id: str | None,
        logger: Any,
        *,
        archived: bool = False,
    ) -> str | None:
        """Create, adopt or repair the Slack channel; archive it when ``archived`` is wanted."""
        slack = self.slack
        channel_id = ref.channel_id or recorded_id
        if channel_id:
            try:
                channel = await slack.info(channel_id)
            except NotFound:
                if ref.channel_id:
                    raise Blocked(
                        "ChannelNotFound", f"Slack channel {ref.channel_id} does not exist"
                    ) from None
                if archived:
                    return recorded_id  # gone, and it was to be archived anyway
                logger.warning(f"Slack channel {recorded_id} was deleted outside Oblivion; creating it again")
            else:
                await _align_archived(self, channel.id, channel.is_archived, archived, logger)
                await _join(self, channel, archived, logger)
                return channel.id
        name = ref.channel_name or default_name
        channel = await slack.ensure_channel(name)
        logger.info(f"Slack channel #{name} is {channel.id}")
        await _join(self, channel, archived, logger)
        await _align_archived(self, channel.id, False, archived, logger)
        return channel.id


async def _join(ctx: OperatorContext, channel: Any, archived: bool, logger: Any) -> None:
    """Adopted public channels need the bot as a member before Nexus can post there."""
    if channel.is_member or channel.is_private or archived:
        return  # a private channel needs a person to invite the bot; an archived one cannot be joined
    await ctx.slack.join(channel.id)
    logger.info(f"Joined Slack channel {channel.id}")


async def _align_archived(
    ctx: OperatorContext, channel_id: str, is_archived: bool, want: bool, logger: Any
) -> None:
    if is_archived and not want:
        await ctx.slack.unarchive(channel_id)
        logger.info(f"Slack channel {channel_id} was archived outside Oblivion; unarchived it")
    elif want and not is_archived:
        await ctx.slack.archive(channel_id)
        logger.info(f"Archived Slack channel {channel_id}")
