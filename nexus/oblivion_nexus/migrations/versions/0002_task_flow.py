"""Task flow: ClickUp webhooks (sealed secrets), agents per task, ignored tasks, claimable mappings.

A task mapping is now claimed before its root message exists (``thread_ts`` null until posted), so a
crashed or duplicated worker finds the claim and finishes it instead of starting over.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 21:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def _now() -> sa.TextClause:
    return sa.text("now()")


def upgrade() -> None:
    op.alter_column("task_mappings", "thread_ts", existing_type=sa.String(length=64), nullable=True)
    op.add_column("task_mappings", sa.Column("title", sa.Text(), nullable=True))
    op.add_column("task_mappings", sa.Column("url", sa.Text(), nullable=True))
    op.add_column("task_mappings", sa.Column("link_comment_id", sa.String(length=64), nullable=True))
    op.add_column("task_mappings", sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "task_agents",
        sa.Column("task_mapping_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("fk_task_agents_agent_id_agents"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["task_mapping_id"],
            ["task_mappings.id"],
            name=op.f("fk_task_agents_task_mapping_id_task_mappings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("task_mapping_id", "agent_id", name=op.f("pk_task_agents")),
    )
    op.create_table(
        "ignored_tasks",
        sa.Column("clickup_task_id", sa.String(length=64), nullable=False),
        sa.Column("list_id", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.PrimaryKeyConstraint("clickup_task_id", name=op.f("pk_ignored_tasks")),
    )
    op.create_table(
        "clickup_webhooks",
        sa.Column("webhook_id", sa.String(length=64), nullable=False),
        sa.Column("workgroup", sa.String(length=253), nullable=False),
        sa.Column("project", sa.String(length=253), nullable=False),
        sa.Column("list_id", sa.String(length=64), nullable=False),
        sa.Column("endpoint", sa.Text(), nullable=False),
        sa.Column("secret_ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("secret_nonce", sa.LargeBinary(), nullable=False),
        sa.Column("secret_key_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("last_event_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workgroup", "project"],
            ["projects.workgroup", "projects.name"],
            name=op.f("fk_clickup_webhooks_workgroup_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workgroup"],
            ["workgroups.name"],
            name=op.f("fk_clickup_webhooks_workgroup_workgroups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("webhook_id", name=op.f("pk_clickup_webhooks")),
        sa.UniqueConstraint("workgroup", "project", name=op.f("uq_clickup_webhooks_workgroup_project")),
    )


def downgrade() -> None:
    op.drop_table("clickup_webhooks")
    op.drop_table("ignored_tasks")
    op.drop_table("task_agents")
    op.drop_column("task_mappings", "closed_at")
    op.drop_column("task_mappings", "link_comment_id")
    op.drop_column("task_mappings", "url")
    op.drop_column("task_mappings", "title")
    op.execute("DELETE FROM task_mappings WHERE thread_ts IS NULL")
    op.alter_column("task_mappings", "thread_ts", existing_type=sa.String(length=64), nullable=False)
