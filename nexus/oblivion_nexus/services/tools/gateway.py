"""The Tool Gateway service: an agent's intent in, a decision, an execution with the stored credential,
an audit record, and an answer with nothing secret in it.

`invoke` takes a token of the agent's per-tool rate limit and reads its workgroup's grants version
in one Redis round trip, gets the agent's grants and its workgroup's credentials (:mod:`.grants`,
from memory unless the registry changed them), picks the credential (the one named, or the only one
of the tool's type the agent holds), asks :mod:`.policy`, validates the arguments against the
action's schema, applies the rate limit, then either runs the action, refuses it, or files it for a
person's approval. A refused or invalid call spends its token too: each one writes an audit
record. Every outcome is one record in the workgroup's audit chain (:mod:`.audit_log`). Results and
upstream errors pass through the credential's :class:`.scrub.Scrubber` before anything leaves.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select, update

from oblivion_agent.protocol import EventFrame, ToolResult, ToolResultFrame
from oblivion_nexus.errors import ServiceError
from oblivion_nexus.integrations.clickup import ClickUpApiError, ClickUpRateLimited
from oblivion_nexus.integrations.errors import IntegrationError
from oblivion_nexus.integrations.github import (
    DEFAULT_GITHUB_API_URL,
    GitHubApiError,
    GitHubClient,
    GitHubError,
    GitHubRateLimited,
    GitHubUnavailable,
)
from oblivion_nexus.integrations.slack import SlackApiError, SlackError, SlackRateLimited
from oblivion_nexus.integrations.slack_interactivity import ButtonClick
from oblivion_nexus.integrations.upstream import Upstream
from oblivion_nexus.resources import Resources
from oblivion_nexus.services.auth.tokens import AgentIdentity
from oblivion_nexus.services.taskflow.errors import FlowError, MissingSetting
from oblivion_nexus.services.tools.approvals import (
    REFUSALS,
    ApprovalRequest,
    Verdict,
    decided_message,
    judge_click,
    request_message,
)
from oblivion_nexus.services.tools.audit_log import AuditEntry, ToolAuditLog
from oblivion_nexus.services.tools.builtin_tools import ACTIONS as BUILTIN_ACTIONS
from oblivion_nexus.services.tools.builtin_tools import BUILTINS, BuiltinTools, BuiltinUnavailable
from oblivion_nexus.services.tools.github_actions import ACTIONS as GITHUB_ACTIONS
from oblivion_nexus.services.tools.grants import Grants, GrantsCache, load_grants
from oblivion_nexus.services.tools.http_tool import (
    HttpArgs,
    HttpCredential,
    HttpTool,
    HttpToolError,
    parse_action,
)
from oblivion_nexus.services.tools.policy import (
    CredentialChoiceError,
    CredentialGrant,
    Outcome,
    action_matches,
    builtin_credential,
    choose_credential,
    decide,
    decide_builtin,
    decide_scope,
)
from oblivion_nexus.services.tools.scrub import Scrubber
from oblivion_nexus.stores import tables as t
from oblivion_nexus.stores.crypto import CryptoError
from oblivion_nexus.stores.tool_grants import VERSION_TTL_SECONDS, current_version, new_version, version_key

logger = logging.getLogger(__name__)

TOOLS = ("github", "http", *BUILTINS)
# Token bucket per agent and tool: refills at this many calls a minute, holds at most this many.
# The same round trip reads the workgroup's grants version (creating it if missing), see .grants.
_BUCKET_SCRIPT = """
local tokens_key, stamp_key, version_key = KEYS[1], KEYS[2], KEYS[3]
local rate, capacity, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local version = redis.call('GET', version_key)
if not version then
  version = ARGV[4]
  redis.call('SET', version_key, version, 'EX', tonumber(ARGV[5]))
end
local tokens = tonumber(redis.call('GET', tokens_key) or capacity)
local stamp = tonumber(redis.call('GET', stamp_key) or now)
tokens = math.min(capacity, tokens + (now - stamp) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
local ttl = math.ceil(capacity / rate) + 1
redis.call('SET', tokens_key, tokens, 'EX', ttl)
redis.call('SET', stamp_key, now, 'EX', ttl)
return {tostring(wait), version}
"""


class ToolError(ServiceError):
    """A call refused or failed: the HTTP `status`, the body's `detail`, and `retry_after` for 429."""

    def __init__(self, status: int, detail: Any, *, retry_after: float | None = None) -> None:
        super().__init__(str(detail))
        self.status = status
        self.detail = detail
        self.retry_after = retry_after


@dataclass(frozen=True)
class InvokeRequest:
    tool: str
    action: str
    args: Mapping[str, Any] = field(default_factory=dict)
    credential: str | None = None
    task_id: str | None = None


@dataclass(frozen=True)
class InvokeOutcome:
    status: int
    body: dict[str, Any]


Deliver = Callable[[str, str, EventFrame], Awaitable[str]]


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(10)}"


class ToolGateway:
    """One per process; shares the app's clients and one HTTP pool for upstream calls."""

    def __init__(
        self,
        resources: Resources,
        audit: ToolAuditLog,
        http: Upstream,
        *,
        calls_per_minute: int = 120,
        http_tool: HttpTool | None = None,
    ) -> None:
        self._resources = resources
        self.audit = audit
        self._http = http
        self._http_tool = http_tool or HttpTool(http)
        self._rate = calls_per_minute / 60.0
        self._capacity = max(calls_per_minute // 4, 1)
        self._bucket = resources.redis.register_script(_BUCKET_SCRIPT)
        self.grants = GrantsCache(resources.sessionmaker)
        # How a decided approval's result reaches the agent (the delivery hub's enqueue).
        self.deliver: Deliver | None = None
        self.slack = resources.slack
        self.builtins = BuiltinTools(resources)

    # What the agent may do

    async def _current_grants(self, identity: AgentIdentity, version: str | None = None) -> Grants:
        """The agent's grants; `version` is the workgroup's, read before (read here when None)."""
        if version is None:
            prefix = self._resources.settings.redis.prefix
            version = await current_version(self._resources.redis, prefix, identity.workgroup)
        return await self.grants.get(identity.workgroup, identity.agent, identity.agent_id, version)

    async def catalog(self, identity: AgentIdentity) -> list[dict[str, Any]]:
        """Every (credential, action) this agent may call now, with its arguments' JSON Schema."""
        grants = await self._current_grants(identity)
        listed: list[dict[str, Any]] = []
        for entry in grants.caller.tools:
            if entry.builtin in BUILTIN_ACTIONS:
                for name, builtin in BUILTIN_ACTIONS[entry.builtin].items():
                    if decide_builtin(grants.caller, entry.builtin, name).allowed:
                        grant = CredentialGrant(
                            builtin_credential(entry.builtin), identity.workgroup, entry.builtin, ("*",)
                        )
                        listed.append(self._listing(grant, name, builtin.summary, builtin.schema()))
                continue
            if entry.credential is None:
                continue
            credential = grants.credentials.get(entry.credential)
            if credential is None or credential.type not in TOOLS:
                continue
            if credential.type == "github":
                for name, action in sorted(GITHUB_ACTIONS.items()):
                    if decide(grants.caller, credential, "github", name).allowed:
                        listed.append(self._listing(credential, name, action.summary, action.schema()))
            else:
                base_url = grants.configs[credential.name].get("baseUrl", "?")
                patterns = credential.allowed_actions if entry.actions is None else entry.actions
                for pattern in patterns:
                    summary = f"HTTP {pattern} below {base_url} (the credential decides what runs)"
                    listed.append(self._listing(credential, pattern, summary, HttpArgs.model_json_schema()))
        return listed

    @staticmethod
    def _listing(
        credential: CredentialGrant, action: str, summary: str, schema: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "tool": credential.type,
            "credential": credential.name,
            "action": action,
            "description": summary,
            "approval": any(action_matches(p, action) for p in credential.approval_actions),
            "argsSchema": schema,
        }

    # Calling

    async def invoke(self, identity: AgentIdentity, request: InvokeRequest) -> InvokeOutcome:
        invocation = new_id("inv")
        if request.tool not in TOOLS:
            raise ToolError(404, f"unknown tool {request.tool!r}; tools: {', '.join(TOOLS)}")
        wait, version = await self._take_token(identity, request.tool)
        grants = await self._current_grants(identity, version)
        if request.tool in BUILTINS:
            return await self._invoke_builtin(identity, request, grants, wait, invocation)
        try:
            credential = (
                grants.credentials.get(request.credential)
                if request.credential
                else choose_credential(grants.caller, list(grants.credentials.values()), request.tool)
            )
        except CredentialChoiceError as e:
            raise ToolError(422, str(e)) from None
        if credential is None:
            raise ToolError(404, f"no credential {request.credential!r} in workgroup {identity.workgroup!r}")
        self._known_action(request)
        entry = AuditEntry(
            workgroup=identity.workgroup,
            agent=identity.agent,
            tool=request.tool,
            action=request.action,
            outcome="",
            invocation_id=invocation,
            task_id=request.task_id,
            credential=credential.name,
            arguments=dict(request.args),
        )
        decision = decide(grants.caller, credential, request.tool, request.action)
        if decision.outcome is Outcome.DENY:
            await self._record(entry, "denied", detail=decision.rule)
            raise ToolError(403, {"status": "denied", "rule": decision.rule, "auditId": invocation})
        args = self._validate(request)
        if wait > 0:
            await self._record(entry, "rate_limited", detail=f"agent rate limit; retry after {wait:.1f} s")
            raise ToolError(429, f"agent rate limit for {request.tool}", retry_after=wait)
        if decision.outcome is Outcome.APPROVAL:
            return await self._file_for_approval(identity, entry)
        try:
            return await self._execute(identity.workgroup, credential, grants, args, entry)
        except CryptoError:
            self.grants.forget(identity.workgroup, identity.agent, identity.agent_id)
            raise

    async def _invoke_builtin(
        self, identity: AgentIdentity, request: InvokeRequest, grants: Grants, wait: float, invocation: str
    ) -> InvokeOutcome:
        """A built-in's call: granted by the agent's tools, then within the token's projects."""
        name = builtin_credential(request.tool)
        if request.credential not in (None, name):
            raise ToolError(
                422, f"the built-in {request.tool} takes no credential (omit it, or name {name!r})"
            )
        action = BUILTIN_ACTIONS[request.tool].get(request.action)
        if action is None:
            raise ToolError(404, f"unknown {request.tool} action {request.action!r}")
        task_id = request.args.get("taskId") if isinstance(request.args.get("taskId"), str) else None
        entry = AuditEntry(
            workgroup=identity.workgroup,
            agent=identity.agent,
            tool=request.tool,
            action=request.action,
            outcome="",
            invocation_id=invocation,
            task_id=request.task_id or task_id,
            credential=name,
            arguments=dict(request.args),
        )
        decision = decide_builtin(grants.caller, request.tool, request.action)
        if decision.outcome is Outcome.DENY:
            await self._record(entry, "denied", detail=decision.rule)
            raise ToolError(403, {"status": "denied", "rule": decision.rule, "auditId": invocation})
        try:
            args = action.args.model_validate(dict(request.args))
        except ValidationError as e:
            raise ToolError(422, _schema_problems(e)) from None
        if wait > 0:
            await self._record(entry, "rate_limited", detail=f"agent rate limit; retry after {wait:.1f} s")
            raise ToolError(429, f"agent rate limit for {request.tool}", retry_after=wait)
        started = time.perf_counter()
        try:
            target = await self.builtins.locate(identity, request.tool, request.action, args)
            scope = decide_scope(identity.workgroup, identity.projects, target.what, target.owner)
            if scope.outcome is Outcome.DENY:
                await self._record(entry, "denied", detail=scope.rule)
                raise ToolError(403, {"status": "denied", "rule": scope.rule, "auditId": invocation})
            entry = AuditEntry(**{**entry.__dict__, "project": target.owner.name if target.owner else None})
            result = await self.builtins.run(identity, request.tool, request.action, args, target, invocation)
        except (BuiltinUnavailable, MissingSetting) as e:
            await self._record(entry, "failed", duration_ms=_ms(started), detail=str(e))
            raise ToolError(409 if isinstance(e, BuiltinUnavailable) else 503, str(e)) from None
        except (ClickUpRateLimited, SlackRateLimited) as e:
            await self._record(entry, "upstream_rate_limited", upstream_status=429, duration_ms=_ms(started))
            raise ToolError(429, str(e), retry_after=e.retry_after) from None
        except (IntegrationError, FlowError) as e:
            status = e.status if isinstance(e, ClickUpApiError | SlackApiError) else None
            await self._record(
                entry, "failed", upstream_status=status, duration_ms=_ms(started), detail=str(e)
            )
            body = {
                "status": "error",
                "upstream": {"status": status, "message": str(e)},
                "auditId": invocation,
            }
            raise ToolError(502, body) from None
        await self._record(entry, "ok", upstream_status=200, duration_ms=_ms(started))
        return InvokeOutcome(200, {"status": "ok", "result": result, "auditId": invocation})

    # Approval by a person

    async def _file_for_approval(self, identity: AgentIdentity, entry: AuditEntry) -> InvokeOutcome:
        """Store the call, announce it in the task's thread (or the workgroup's channel), answer 202."""
        approval_id = new_id("apr")
        async with self._resources.sessionmaker() as session:
            rule = (
                await session.execute(
                    select(t.Credential.approval).where(
                        t.Credential.workgroup == entry.workgroup, t.Credential.name == entry.credential
                    )
                )
            ).scalar_one()
            expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=int(rule.get("timeoutSeconds", 3600)))
            channel, thread_ts = await self._announcement_place(session, entry)
            session.add(
                t.ToolApproval(
                    id=approval_id,
                    workgroup=entry.workgroup,
                    agent=entry.agent,
                    agent_id=identity.agent_id,
                    task_id=entry.task_id,
                    tool=entry.tool,
                    credential=entry.credential or "",
                    action=entry.action,
                    arguments=dict(entry.arguments),
                    status="pending",
                    expires_at=expires,
                    slack_channel=channel,
                )
            )
            await session.commit()
        await self._record(entry, "pending", detail=approval_id)
        if channel and self.slack is not None:
            text, blocks = request_message(self._approval_view(approval_id, entry, expires))
            try:
                posted = await self.slack.post_message(channel, text, blocks=blocks, thread_ts=thread_ts)
            except SlackError as e:
                logger.warning("approval %s could not be announced in Slack: %s", approval_id, e)
            else:
                async with self._resources.sessionmaker() as session:
                    await session.execute(
                        update(t.ToolApproval)
                        .where(t.ToolApproval.id == approval_id)
                        .values(slack_ts=posted.ts)
                    )
                    await session.commit()
        body = {
            "status": "pending_approval",
            "approvalId": approval_id,
            "expiresAt": expires.isoformat(),
            "auditId": entry.invocation_id,
        }
        return InvokeOutcome(202, body)

    @staticmethod
    async def _announcement_place(session: Any, entry: AuditEntry) -> tuple[str | None, str | None]:
        if entry.task_id:
            mapping = (
                await session.execute(
                    select(t.TaskMapping.slack_channel_id, t.TaskMapping.thread_ts).where(
                        t.TaskMapping.workgroup == entry.workgroup,
                        t.TaskMapping.clickup_task_id == entry.task_id,
                    )
                )
            ).one_or_none()
            if mapping is not None:
                return mapping.slack_channel_id, mapping.thread_ts
        channel = (
            await session.execute(
                select(t.Workgroup.slack_channel_id).where(t.Workgroup.name == entry.workgroup)
            )
        ).scalar_one_or_none()
        return channel, None

    @staticmethod
    def _approval_view(approval_id: str, entry: AuditEntry, expires: dt.datetime) -> ApprovalRequest:
        return ApprovalRequest(
            approval_id=approval_id,
            agent=entry.agent,
            tool=entry.tool,
            credential=entry.credential or "",
            action=entry.action,
            args=entry.arguments,
            expires_at=expires.strftime("%Y-%m-%d %H:%M UTC"),
        )

    async def handle_click(self, click: ButtonClick) -> str | None:
        """A person clicked Approve or Deny: decide once, run once, tell the agent and the thread.

        Returns the refusal to show the clicker alone, or None when the click decided the approval.
        """
        async with self._resources.sessionmaker() as session:
            row = await session.get(t.ToolApproval, click.value or "")
            if row is None:
                return REFUSALS[Verdict.ALREADY_DECIDED]
            rule = (
                await session.execute(
                    select(t.Credential.approval).where(
                        t.Credential.workgroup == row.workgroup, t.Credential.name == row.credential
                    )
                )
            ).scalar_one_or_none() or {}
        approvers = [a for a in rule.get("approvers", []) if not a.startswith("S")]
        members: set[str] = set()
        if self.slack is not None:
            for group in (a for a in rule.get("approvers", []) if a.startswith("S")):
                try:
                    members.update(await self.slack.usergroup_members(group))
                except SlackError as e:
                    logger.warning("user group %s of approval %s could not be read: %s", group, row.id, e)
        acting = (await self.slack.identity()).user_id if self.slack is not None else None
        verdict = judge_click(
            action_id=click.action_id,
            clicker=click.user_id,
            approvers=approvers,
            group_members=members,
            acting_identity=acting,
            pending=row.status == "pending",
        )
        if verdict not in (Verdict.APPROVED, Verdict.DENIED):
            return REFUSALS[verdict]
        status = "approved" if verdict is Verdict.APPROVED else "denied"
        now = dt.datetime.now(dt.UTC)
        async with self._resources.sessionmaker() as session:
            claimed = (
                await session.execute(
                    update(t.ToolApproval)
                    .where(
                        t.ToolApproval.id == row.id,
                        t.ToolApproval.status == "pending",
                        t.ToolApproval.expires_at > now,
                    )
                    .values(status=status, decided_by=click.user_id, decided_at=now)
                    .returning(t.ToolApproval.id)
                )
            ).scalar_one_or_none()
            await session.commit()
        if claimed is None:  # another click, replica or the expiry sweep decided it first
            return REFUSALS[Verdict.ALREADY_DECIDED]
        await self._conclude(row, status, click.user_id)
        return None

    async def _conclude(self, row: t.ToolApproval, status: str, decided_by: str | None) -> None:
        """After the decision: run an approved call, record it, update the message, tell the agent."""
        entry = AuditEntry(
            workgroup=row.workgroup,
            agent=row.agent,
            tool=row.tool,
            action=row.action,
            outcome="",
            invocation_id=new_id("inv"),
            task_id=row.task_id,
            credential=row.credential,
            arguments=dict(row.arguments),
            approver=decided_by,
        )
        ok, result = False, None
        error: str | None = f"the call was {status}"
        if status == "approved":
            try:
                outcome = await self._run_approved(row, entry)
                ok, result, error = True, outcome.body.get("result"), None
            except ToolError as e:
                error = str(e.detail)
        else:
            await self._record(entry, status, detail=f"approval {row.id}")
        async with self._resources.sessionmaker() as session:
            await session.execute(
                update(t.ToolApproval)
                .where(t.ToolApproval.id == row.id)
                .values(result={"ok": ok, "error": error})
            )
            await session.commit()
        if self.slack is not None and row.slack_channel and row.slack_ts:
            at = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
            shown = status if ok or status != "approved" else f"approved but not run ({error})"
            text, blocks = decided_message(
                self._approval_view(row.id, entry, row.expires_at), shown, decided_by, at
            )
            try:
                await self.slack.update_message(row.slack_channel, row.slack_ts, text, blocks=blocks)
            except SlackError as e:
                logger.warning("approval %s message could not be updated: %s", row.id, e)
        if self.deliver is not None:
            frame = ToolResultFrame(data=ToolResult(request_id=row.id, ok=ok, result=result, error=error))
            await self.deliver(row.workgroup, row.agent, frame)

    async def _run_approved(self, row: t.ToolApproval, entry: AuditEntry) -> InvokeOutcome:
        """Run an approved call if the grants still allow it: they may have changed while it waited."""
        async with self._resources.sessionmaker() as session:  # now, not as cached
            grants = await load_grants(session, row.workgroup, row.agent, row.agent_id)
        credential = grants.credentials.get(row.credential)
        if credential is None:
            await self._record(
                entry, "failed", detail="the credential was removed while waiting for approval"
            )
            raise ToolError(404, f"credential {row.credential!r} is gone")
        decision = decide(grants.caller, credential, row.tool, row.action)
        if decision.outcome is Outcome.DENY:
            await self._record(entry, "denied", detail=f"approved, but no longer allowed: {decision.rule}")
            raise ToolError(403, f"approved, but no longer allowed: {decision.rule}")
        args = self._validate(InvokeRequest(row.tool, row.action, row.arguments, row.credential, row.task_id))
        return await self._execute(row.workgroup, credential, grants, args, entry, approved=True)

    async def expire_due(self) -> int:
        """Deny every approval past its deadline (exactly once across replicas); how many there were."""
        now = dt.datetime.now(dt.UTC)
        return await self._conclude_claimed(
            "expired", now, t.ToolApproval.status == "pending", t.ToolApproval.expires_at <= now
        )

    async def conclude_withdrawn(self) -> int:
        """Conclude every approval the task flow withdrew from a stopped task (it marks them
        ``withdrawing``; nobody can approve them from then on): exactly once across replicas, as
        ``withdrawn`` in the audit record, the Slack message and the agent's TOOL_RESULT."""
        now = dt.datetime.now(dt.UTC)
        return await self._conclude_claimed("withdrawn", now, t.ToolApproval.status == t.APPROVAL_WITHDRAWING)

    async def _conclude_claimed(self, status: str, now: dt.datetime, *where: Any) -> int:
        """Move the approvals matching ``where`` to ``status`` in one statement (so one replica claims
        each) and conclude them; how many there were."""
        async with self._resources.sessionmaker() as session:
            claimed = (
                await session.execute(
                    update(t.ToolApproval)
                    .where(*where)
                    .values(status=status, decided_at=now)
                    .returning(t.ToolApproval)
                )
            ).scalars()
            rows = list(claimed)
            await session.commit()
        for row in rows:
            await self._conclude(row, status, None)
        return len(rows)

    @staticmethod
    def _known_action(request: InvokeRequest) -> None:
        """404 for an action the tool does not have, before any grant is looked at."""
        if request.tool == "github" and request.action not in GITHUB_ACTIONS:
            raise ToolError(404, f"unknown github action {request.action!r}")
        if request.tool == "http":
            try:
                parse_action(request.action)
            except HttpToolError as e:
                raise ToolError(e.status, e.detail) from None

    @staticmethod
    def _validate(request: InvokeRequest) -> Any:
        """The arguments as the action's model, or 422 naming each field that does not fit."""
        try:
            if request.tool == "github":
                return GITHUB_ACTIONS[request.action].args.model_validate(dict(request.args))
            return HttpArgs.model_validate(dict(request.args))
        except ValidationError as e:
            raise ToolError(422, _schema_problems(e)) from None
        except HttpToolError as e:
            raise ToolError(e.status, e.detail) from None

    async def _take_token(self, identity: AgentIdentity, tool: str) -> tuple[float, str]:
        """Seconds to wait before the call may run (0: it may, a token was taken), and the
        workgroup's grants version."""
        prefix = self._resources.settings.redis.prefix
        base = f"{prefix}:toolrate:{identity.agent_id}:{tool}"
        wait, version = await self._bucket(
            keys=[base, f"{base}:at", version_key(prefix, identity.workgroup)],
            args=[self._rate, self._capacity, time.time(), new_version(), VERSION_TTL_SECONDS],
        )
        return float(wait), version.decode() if isinstance(version, bytes) else str(version)

    async def _record(self, entry: AuditEntry, outcome: str, **extra: Any) -> None:
        await self.audit.append(
            AuditEntry(**{**entry.__dict__, "outcome": outcome, "at": dt.datetime.now(dt.UTC), **extra})
        )

    async def _execute(
        self,
        workgroup: str,
        credential: CredentialGrant,
        grants: Grants,
        args: Any,
        entry: AuditEntry,
        *,
        approved: bool = False,
    ) -> InvokeOutcome:
        config = grants.configs[credential.name]
        # Opened for this call only; the cache keeps the sealed value (see .grants).
        sealed = grants.sealed[credential.name]
        secret = self._resources.master_keys.open(sealed, workgroup=workgroup, name=credential.name)
        scrub = Scrubber([secret])
        started = time.perf_counter()
        status: int | None = None
        try:
            if credential.type == "github":
                client = GitHubClient(
                    secret, base_url=config.get("baseUrl") or DEFAULT_GITHUB_API_URL, http=self._http
                )
                result = await GITHUB_ACTIONS[entry.action].run(client, args)
                status = 200
            else:
                http = HttpCredential(
                    base_url=str(config.get("baseUrl", "")),
                    secret=secret,
                    header=str(config.get("headerName") or "Authorization"),
                    scheme=config.get("scheme", "Bearer") or None,
                )
                answer = await self._http_tool.call(http, entry.action, args)
                status, result = answer.status, answer.as_json()
                if status >= 500:  # the API failed; below 500 it answered the agent's request
                    raise HttpToolError(502, f"{entry.action} answered HTTP {status}: {_gist(answer.body)}")
        except GitHubRateLimited as e:
            await self._record(entry, "upstream_rate_limited", upstream_status=429, duration_ms=_ms(started))
            raise ToolError(429, scrub.text(str(e)), retry_after=e.retry_after) from None
        except (GitHubError, HttpToolError) as e:
            if isinstance(e, HttpToolError):
                status = status if status is not None and status >= 500 else e.status
            else:
                status = e.status if isinstance(e, GitHubApiError | GitHubUnavailable) else None
            message = scrub.text(e.detail if isinstance(e, HttpToolError) else str(e))
            await self._record(
                entry, "failed", upstream_status=status, duration_ms=_ms(started), detail=message
            )
            if isinstance(e, HttpToolError) and e.status in (403, 422):
                raise ToolError(e.status, message) from None
            body = {
                "status": "error",
                "upstream": {"status": status, "message": message},
                "auditId": entry.invocation_id,
            }
            raise ToolError(502, body) from None
        await self._record(
            entry, "approved" if approved else "ok", upstream_status=status, duration_ms=_ms(started)
        )
        return InvokeOutcome(
            200, {"status": "ok", "result": scrub.value(result), "auditId": entry.invocation_id}
        )


def _schema_problems(e: ValidationError) -> dict[str, Any]:
    """A 422's body: each field that does not fit the action's schema, and why."""
    problems = [{"field": ".".join(str(p) for p in err["loc"]), "message": err["msg"]} for err in e.errors()]
    return {"message": "args do not match the action's schema", "errors": problems}


def _gist(body: Any) -> str:
    """The start of an upstream's error body, for the agent (scrubbed by the caller)."""
    text = body if isinstance(body, str) else json.dumps(body, default=str)
    return text[:300]


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
