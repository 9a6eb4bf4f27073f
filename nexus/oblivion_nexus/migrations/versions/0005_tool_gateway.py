"""The Tool Gateway: agents' tool grants, credentials' approval rules, the audit chain, approvals.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 05:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

NAME = sa.String(253)
EXTERNAL_ID = sa.String(64)


def upgrade() -> None:
    op.add_column("agents", sa.Column("tools", postgresql.JSONB(), server_default="[]", nullable=False))
    op.add_column(
        "credentials", sa.Column("approval", postgresql.JSONB(), server_default="{}", nullable=False)
    )
    op.create_table(
        "tool_audit",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("workgroup", NAME, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("agent", NAME, nullable=False),
        sa.Column("project", NAME, nullable=True),
        sa.Column("task_id", EXTERNAL_ID, nullable=True),
        sa.Column("tool", sa.String(64), nullable=False),
        sa.Column("credential", NAME, nullable=True),
        sa.Column("action", sa.String(512), nullable=False),
        sa.Column("arguments", postgresql.JSONB(), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("upstream_status", sa.Integer(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("approver", sa.String(64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("invocation_id", sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tool_audit"),
        sa.UniqueConstraint("workgroup", "seq", name="uq_tool_audit_workgroup_seq"),
    )
    op.create_index("ix_tool_audit_invocation_id", "tool_audit", ["invocation_id"])
    op.create_table(
        "tool_audit_heads",
        sa.Column("workgroup", NAME, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("workgroup", name="pk_tool_audit_heads"),
    )
    op.create_table(
        "tool_approvals",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("workgroup", NAME, nullable=False),
        sa.Column("agent", NAME, nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("project", NAME, nullable=True),
        sa.Column("task_id", EXTERNAL_ID, nullable=True),
        sa.Column("tool", sa.String(64), nullable=False),
        sa.Column("credential", NAME, nullable=False),
        sa.Column("action", sa.String(512), nullable=False),
        sa.Column("arguments", postgresql.JSONB(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(64), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("slack_channel", EXTERNAL_ID, nullable=True),
        sa.Column("slack_ts", EXTERNAL_ID, nullable=True),
        sa.Column("result", postgresql.JSONB(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_tool_approvals"),
        sa.ForeignKeyConstraint(
            ["workgroup"],
            ["workgroups.name"],
            name="fk_tool_approvals_workgroup_workgroups",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_tool_approvals_workgroup", "tool_approvals", ["workgroup"])
    op.create_index("ix_tool_approvals_status", "tool_approvals", ["status"])
    op.create_index("ix_tool_approvals_expires_at", "tool_approvals", ["expires_at"])


def downgrade() -> None:
    op.drop_table("tool_approvals")
    op.drop_table("tool_audit_heads")
    op.drop_index("ix_tool_audit_invocation_id", table_name="tool_audit")
    op.drop_table("tool_audit")
    op.drop_column("credentials", "approval")
    op.drop_column("agents", "tools")
