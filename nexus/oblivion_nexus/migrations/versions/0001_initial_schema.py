"""Initial schema: tenants, projects, agents, task mappings, mirror ledger, credentials, audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-25 20:13:23.539477
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("workgroup", sa.String(length=253), nullable=True),
        sa.Column("actor", sa.String(length=253), nullable=False),
        sa.Column("action", sa.String(length=128), nullable=False),
        sa.Column("target", sa.Text(), nullable=True),
        sa.Column("arguments", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"], unique=False)
    op.create_index(op.f("ix_audit_log_workgroup"), "audit_log", ["workgroup"], unique=False)
    op.create_table(
        "mirror_ledger",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=False),
        sa.Column("mirrored_id", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mirror_ledger")),
        sa.UniqueConstraint("source", "external_id", name=op.f("uq_mirror_ledger_source_external_id")),
    )
    op.create_table(
        "workgroups",
        sa.Column("name", sa.String(length=253), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=True),
        sa.Column("namespace", sa.String(length=253), nullable=True),
        sa.Column("slack_channel_id", sa.String(length=64), nullable=True),
        sa.Column("collection", sa.String(length=253), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_workgroups")),
    )
    op.create_table(
        "agents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workgroup", sa.String(length=253), nullable=False),
        sa.Column("name", sa.String(length=253), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=True),
        sa.Column("client_id", sa.String(length=255), nullable=False),
        sa.Column("client_secret_hash", sa.Text(), nullable=False),
        sa.Column("clickup_user_id", sa.String(length=64), nullable=True),
        sa.Column("rate_limit_per_minute", sa.Integer(), nullable=False),
        sa.Column("icon_url", sa.Text(), nullable=True),
        sa.Column("icon_emoji", sa.String(length=128), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["workgroup"],
            ["workgroups.name"],
            name=op.f("fk_agents_workgroup_workgroups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agents")),
        sa.UniqueConstraint("client_id", name=op.f("uq_agents_client_id")),
        sa.UniqueConstraint("workgroup", "name", name=op.f("uq_agents_workgroup_name")),
    )
    op.create_index(op.f("ix_agents_workgroup"), "agents", ["workgroup"], unique=False)
    op.create_table(
        "credentials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workgroup", sa.String(length=253), nullable=False),
        sa.Column("name", sa.String(length=253), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("allowed_actions", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("agents", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("config", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["workgroup"],
            ["workgroups.name"],
            name=op.f("fk_credentials_workgroup_workgroups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credentials")),
        sa.UniqueConstraint("workgroup", "name", name=op.f("uq_credentials_workgroup_name")),
    )
    op.create_index(op.f("ix_credentials_workgroup"), "credentials", ["workgroup"], unique=False)
    op.create_table(
        "projects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workgroup", sa.String(length=253), nullable=False),
        sa.Column("name", sa.String(length=253), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=True),
        sa.Column("clickup_list_id", sa.String(length=64), nullable=True),
        sa.Column("slack_channel_id", sa.String(length=64), nullable=True),
        sa.Column("status_map", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["workgroup"],
            ["workgroups.name"],
            name=op.f("fk_projects_workgroup_workgroups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
        sa.UniqueConstraint("clickup_list_id", name=op.f("uq_projects_clickup_list_id")),
        sa.UniqueConstraint("workgroup", "name", name=op.f("uq_projects_workgroup_name")),
    )
    op.create_index(op.f("ix_projects_slack_channel_id"), "projects", ["slack_channel_id"], unique=False)
    op.create_index(op.f("ix_projects_workgroup"), "projects", ["workgroup"], unique=False)
    op.create_table(
        "agent_aliases",
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("alias", sa.String(length=128), nullable=False),
        sa.Column("workgroup", sa.String(length=253), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("fk_agent_aliases_agent_id_agents"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["workgroup"],
            ["workgroups.name"],
            name=op.f("fk_agent_aliases_workgroup_workgroups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("agent_id", "alias", name=op.f("pk_agent_aliases")),
        sa.UniqueConstraint("workgroup", "alias", name=op.f("uq_agent_aliases_workgroup_alias")),
        sa.CheckConstraint("alias = lower(alias)", name=op.f("ck_agent_aliases_lowercase")),
    )
    op.create_table(
        "agent_projects",
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("project", sa.String(length=253), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("fk_agent_projects_agent_id_agents"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("agent_id", "project", name=op.f("pk_agent_projects")),
    )
    op.create_table(
        "task_mappings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workgroup", sa.String(length=253), nullable=False),
        sa.Column("project", sa.String(length=253), nullable=False),
        sa.Column("clickup_task_id", sa.String(length=64), nullable=False),
        sa.Column("slack_channel_id", sa.String(length=64), nullable=False),
        sa.Column("thread_ts", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["workgroup", "project"],
            ["projects.workgroup", "projects.name"],
            name=op.f("fk_task_mappings_workgroup_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workgroup"],
            ["workgroups.name"],
            name=op.f("fk_task_mappings_workgroup_workgroups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_mappings")),
        sa.UniqueConstraint("clickup_task_id", name=op.f("uq_task_mappings_clickup_task_id")),
        sa.UniqueConstraint("slack_channel_id", "thread_ts", name="uq_task_mappings_thread"),
    )


def downgrade() -> None:
    op.drop_table("task_mappings")
    op.drop_table("agent_projects")
    op.drop_table("agent_aliases")
    op.drop_index(op.f("ix_projects_workgroup"), table_name="projects")
    op.drop_index(op.f("ix_projects_slack_channel_id"), table_name="projects")
    op.drop_table("projects")
    op.drop_index(op.f("ix_credentials_workgroup"), table_name="credentials")
    op.drop_table("credentials")
    op.drop_index(op.f("ix_agents_workgroup"), table_name="agents")
    op.drop_table("agents")
    op.drop_table("workgroups")
    op.drop_table("mirror_ledger")
    op.drop_index(op.f("ix_audit_log_workgroup"), table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_at"), table_name="audit_log")
    op.drop_table("audit_log")
