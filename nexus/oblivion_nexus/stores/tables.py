"""The PostgreSQL schema of Nexus as SQLAlchemy 2 tables; Alembic migrations create exactly this.

Tenants own everything below them: deleting a workgroup cascades to its projects, agents, aliases,
credentials and task mappings in the database itself, so no orphan survives a crash halfway.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Stable constraint names, so migrations can refer to them and autogenerate diffs stay empty.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Kubernetes object names are at most 253 characters; ids of Slack/ClickUp fit well within 64.
NAME = String(253)
EXTERNAL_ID = String(64)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSONB, list[str]: JSONB}


class _Timestamps:
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class Workgroup(_Timestamps, Base):
    """A tenant (a team such as squad-backend)."""

    __tablename__ = "workgroups"
    name: Mapped[str] = mapped_column(NAME, primary_key=True)
    display_name: Mapped[str | None] = mapped_column(Text)
    namespace: Mapped[str | None] = mapped_column(NAME)
    slack_channel_id: Mapped[str | None] = mapped_column(EXTERNAL_ID)
    collection: Mapped[str | None] = mapped_column(NAME)
    # The Workgroup's spec.memory.summaryModel ({"provider", "name", "endpoint", "credential"}): the
    # model that writes thread summaries; None: they are extractive.
    summary_model: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


def _workgroup_fk() -> Any:
    return ForeignKey("workgroups.name", ondelete="CASCADE")


class Project(_Timestamps, Base):
    """A temporary initiative: one ClickUp list mapped to one Slack channel."""

    __tablename__ = "projects"
    __table_args__ = (UniqueConstraint("workgroup", "name"), UniqueConstraint("clickup_list_id"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workgroup: Mapped[str] = mapped_column(NAME, _workgroup_fk(), index=True)
    name: Mapped[str] = mapped_column(NAME)
    display_name: Mapped[str | None] = mapped_column(Text)
    clickup_list_id: Mapped[str | None] = mapped_column(EXTERNAL_ID)
    slack_channel_id: Mapped[str | None] = mapped_column(EXTERNAL_ID, index=True)
    status_map: Mapped[dict[str, Any]] = mapped_column(default=dict)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    # The workgroup's ``memory.isolation``: ``Shared`` (the workgroup's collection, ``project_id`` as
    # the tenant field) or ``PerProject`` (``collection``, the project's own, made by the operator).
    memory_isolation: Mapped[str] = mapped_column(String(16), default="Shared", server_default="Shared")
    collection: Mapped[str | None] = mapped_column(NAME)


class Agent(_Timestamps, Base):
    """An AI agent; only a hash of its OAuth2 client secret is kept."""

    __tablename__ = "agents"
    __table_args__ = (UniqueConstraint("workgroup", "name"), UniqueConstraint("client_id"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workgroup: Mapped[str] = mapped_column(NAME, _workgroup_fk(), index=True)
    name: Mapped[str] = mapped_column(NAME)
    display_name: Mapped[str | None] = mapped_column(Text)
    client_id: Mapped[str] = mapped_column(String(255))
    client_secret_hash: Mapped[str] = mapped_column(Text)
    clickup_user_id: Mapped[str | None] = mapped_column(EXTERNAL_ID)
    rate_limit_per_minute: Mapped[int] = mapped_column(Integer, default=10)
    icon_url: Mapped[str | None] = mapped_column(Text)
    icon_emoji: Mapped[str | None] = mapped_column(String(128))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Raised when the agent's credentials or projects change; tokens of an older one are refused.
    credential_generation: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # Off: the agent's text reaches Slack escaped, so it cannot ping a channel or disguise a link.
    allow_mentions: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The Agent's spec.tools: [{"credential": name, "actions": [patterns] | null}], or a built-in
    # tool's entry [{"builtin": "clickup" | "slack", "actions": …}].
    tools: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list, server_default="[]")
    # The Agent's spec.model ({"provider", "name", "endpoint", "credential"}); None: no model given.
    model: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # The Agent's spec.budget ({"tokensPerTask", "tokensPerDay"}); {}: unlimited.
    budget: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")


class AgentAlias(Base):
    """A mention handle such as ``ai-backend``; lowercase and unique within a workgroup."""

    __tablename__ = "agent_aliases"
    __table_args__ = (
        UniqueConstraint("workgroup", "alias"),
        CheckConstraint("alias = lower(alias)", name="lowercase"),
    )
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True)
    alias: Mapped[str] = mapped_column(String(128), primary_key=True)
    workgroup: Mapped[str] = mapped_column(NAME, _workgroup_fk())


class AgentProject(Base):
    """A project an agent may work on, by name (it may be registered before the project is)."""

    __tablename__ = "agent_projects"
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True)
    project: Mapped[str] = mapped_column(NAME, primary_key=True)


class TaskMapping(_Timestamps, Base):
    """A ClickUp task and the Slack thread that mirrors it."""

    __tablename__ = "task_mappings"
    __table_args__ = (
        UniqueConstraint("clickup_task_id"),
        UniqueConstraint("slack_channel_id", "thread_ts", name="uq_task_mappings_thread"),
        ForeignKeyConstraint(
            ["workgroup", "project"], ["projects.workgroup", "projects.name"], ondelete="CASCADE"
        ),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workgroup: Mapped[str] = mapped_column(NAME, _workgroup_fk())
    project: Mapped[str] = mapped_column(NAME)
    clickup_task_id: Mapped[str] = mapped_column(EXTERNAL_ID)
    slack_channel_id: Mapped[str] = mapped_column(EXTERNAL_ID)
    # Null while the worker has claimed the task but not yet posted its root message (revision 0002).
    thread_ts: Mapped[str | None] = mapped_column(EXTERNAL_ID)
    state: Mapped[str] = mapped_column(String(32), default="TODO")
    title: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    link_comment_id: Mapped[str | None] = mapped_column(EXTERNAL_ID)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class MirrorLedgerEntry(Base):
    """A message already mirrored to the other side, so a mirror never echoes back."""

    __tablename__ = "mirror_ledger"
    __table_args__ = (UniqueConstraint("source", "external_id"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(255))
    mirrored_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class TaskAgent(Base):
    """An agent working on a tracked task; ``notified_at`` is set once TASK_ASSIGNED is queued."""

    __tablename__ = "task_agents"
    task_mapping_id: Mapped[int] = mapped_column(
        ForeignKey("task_mappings.id", ondelete="CASCADE"), primary_key=True
    )
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True)
    notified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class IgnoredTask(Base):
    """A ClickUp task the worker saw but will not track (unknown or archived project, no agent)."""

    __tablename__ = "ignored_tasks"
    clickup_task_id: Mapped[str] = mapped_column(EXTERNAL_ID, primary_key=True)
    list_id: Mapped[str | None] = mapped_column(EXTERNAL_ID)
    reason: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ClickUpWebhook(_Timestamps, Base):
    """The ClickUp webhook Nexus created for a project's list; its secret is sealed like a credential."""

    __tablename__ = "clickup_webhooks"
    __table_args__ = (
        UniqueConstraint("workgroup", "project"),
        ForeignKeyConstraint(
            ["workgroup", "project"], ["projects.workgroup", "projects.name"], ondelete="CASCADE"
        ),
    )
    webhook_id: Mapped[str] = mapped_column(EXTERNAL_ID, primary_key=True)
    workgroup: Mapped[str] = mapped_column(NAME, _workgroup_fk())
    project: Mapped[str] = mapped_column(NAME)
    list_id: Mapped[str] = mapped_column(EXTERNAL_ID)
    endpoint: Mapped[str] = mapped_column(Text)
    secret_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    secret_nonce: Mapped[bytes] = mapped_column(LargeBinary)
    secret_key_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32), default="active")
    last_event_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Credential(_Timestamps, Base):
    """A tool credential, encrypted (AES-256-GCM); the plaintext is never stored."""

    __tablename__ = "credentials"
    __table_args__ = (UniqueConstraint("workgroup", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workgroup: Mapped[str] = mapped_column(NAME, _workgroup_fk(), index=True)
    name: Mapped[str] = mapped_column(NAME)
    type: Mapped[str] = mapped_column(String(64))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    key_id: Mapped[str] = mapped_column(String(64))
    fingerprint: Mapped[str] = mapped_column(String(64))
    allowed_actions: Mapped[list[str]] = mapped_column(default=list)
    agents: Mapped[list[str]] = mapped_column(default=list)
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Actions that wait for a person: {"actions": [...], "approvers": [...], "timeoutSeconds": n}.
    approval: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")


class AuditRecord(Base):
    """One tool execution or registry change: who, what, outcome; arguments already redacted."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), index=True)
    workgroup: Mapped[str | None] = mapped_column(NAME, index=True)
    actor: Mapped[str] = mapped_column(NAME)
    action: Mapped[str] = mapped_column(String(128))
    target: Mapped[str | None] = mapped_column(Text)
    arguments: Mapped[dict[str, Any]] = mapped_column(default=dict)
    outcome: Mapped[str] = mapped_column(String(32))
    duration_ms: Mapped[int | None] = mapped_column(Integer)


class ToolAuditRecord(Base):
    """One Tool Gateway decision or execution, chained per workgroup: each row hashes the one before.

    No foreign key to the workgroup: the trail must outlive the tenant it describes.
    """

    __tablename__ = "tool_audit"
    __table_args__ = (UniqueConstraint("workgroup", "seq"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    workgroup: Mapped[str] = mapped_column(NAME)
    seq: Mapped[int] = mapped_column(BigInteger)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    agent: Mapped[str] = mapped_column(NAME)
    project: Mapped[str | None] = mapped_column(NAME)
    task_id: Mapped[str | None] = mapped_column(EXTERNAL_ID)
    tool: Mapped[str] = mapped_column(String(64))
    credential: Mapped[str | None] = mapped_column(NAME)
    action: Mapped[str] = mapped_column(String(512))
    arguments: Mapped[dict[str, Any]] = mapped_column(default=dict)
    outcome: Mapped[str] = mapped_column(String(32))
    upstream_status: Mapped[int | None] = mapped_column(Integer)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    approver: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)
    invocation_id: Mapped[str] = mapped_column(String(40), index=True)


class ToolAuditHead(Base):
    """The newest record of a workgroup's chain, kept apart so removing the newest rows shows."""

    __tablename__ = "tool_audit_heads"
    workgroup: Mapped[str] = mapped_column(NAME, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


# The status of a stopped task's pending approval until the Tool Gateway's sweep concludes it as
# ``withdrawn``. The task flow marks it but sits below the Tool Gateway (and must not reach the
# services the gateway's modules import), so the two meet here, at the row.
APPROVAL_WITHDRAWING = "withdrawing"


class ToolApproval(Base):
    """A tool call waiting for a person's yes; decided once (the status moves from pending exactly once)."""

    __tablename__ = "tool_approvals"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workgroup: Mapped[str] = mapped_column(NAME, _workgroup_fk(), index=True)
    agent: Mapped[str] = mapped_column(NAME)
    agent_id: Mapped[int] = mapped_column(Integer)
    project: Mapped[str | None] = mapped_column(NAME)
    task_id: Mapped[str | None] = mapped_column(EXTERNAL_ID)
    tool: Mapped[str] = mapped_column(String(64))
    credential: Mapped[str] = mapped_column(NAME)
    action: Mapped[str] = mapped_column(String(512))
    # What runs once approved (the agent's own arguments; no credential is in them).
    arguments: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    slack_channel: Mapped[str | None] = mapped_column(EXTERNAL_ID)
    slack_ts: Mapped[str | None] = mapped_column(EXTERNAL_ID)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class ModelUsage(Base):
    """One call through the model gateway: its tokens as the upstream reported them, and their cost.

    Attributed to the agent, the task (when the call named one) and the UTC day; budgets and the
    usage shown on tasks and in the Agent's status are sums of these rows. ``cost_usd`` is None for
    a model without a price.
    """

    __tablename__ = "model_usage"
    __table_args__ = (
        Index("ix_model_usage_agent_id_day", "agent_id", "day"),
        Index("ix_model_usage_workgroup_task_id", "workgroup", "task_id"),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    day: Mapped[date] = mapped_column(Date)
    workgroup: Mapped[str] = mapped_column(NAME, _workgroup_fk())
    agent: Mapped[str] = mapped_column(NAME)
    agent_id: Mapped[int] = mapped_column(Integer)
    task_id: Mapped[str | None] = mapped_column(EXTERNAL_ID)
    provider: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(256))
    prompt_tokens: Mapped[int] = mapped_column(Integer)
    completion_tokens: Mapped[int] = mapped_column(Integer)
    cost_usd: Mapped[Decimal | None] = mapped_column(Numeric(18, 6))


class MemoryBackfill(Base):
    """A project's history being copied into the Memory Bank: one row a project, resumable.

    ``progress`` holds the cursors (Slack's ``next_cursor``, the threads still to read, ClickUp's
    page) and the counts shown to whoever asked, so a stopped backfill is taken over where it stopped;
    ``not_before`` is the end of a wait for a rate limit. Who runs it is a lease in Redis
    (``services.taskflow.backfill_runs``); ``lease_until`` is unused.
    """

    __tablename__ = "memory_backfills"
    project_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    state: Mapped[str] = mapped_column(String(16), index=True)
    progress: Mapped[dict[str, Any]] = mapped_column(default=dict)
    last_error: Mapped[str | None] = mapped_column(Text)
    not_before: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
