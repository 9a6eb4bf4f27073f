"""The model gateway: agents carry the model they were given and their budget; every model call's
tokens and cost are a row of ``model_usage``, attributed to agent, task and UTC day.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-08 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

NAME = sa.String(253)


def upgrade() -> None:
    op.add_column("agents", sa.Column("model", postgresql.JSONB(), nullable=True))
    op.add_column("agents", sa.Column("budget", postgresql.JSONB(), server_default="{}", nullable=False))
    op.create_table(
        "model_usage",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("workgroup", NAME, nullable=False),
        sa.Column("agent", NAME, nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.String(64), nullable=True),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("model", sa.String(256), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Numeric(18, 6), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_model_usage"),
        sa.ForeignKeyConstraint(
            ["workgroup"], ["workgroups.name"], name="fk_model_usage_workgroup_workgroups", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_model_usage_agent_id_day", "model_usage", ["agent_id", "day"])
    op.create_index("ix_model_usage_workgroup_task_id", "model_usage", ["workgroup", "task_id"])


def downgrade() -> None:
    op.drop_index("ix_model_usage_workgroup_task_id", table_name="model_usage")
    op.drop_index("ix_model_usage_agent_id_day", table_name="model_usage")
    op.drop_table("model_usage")
    op.drop_column("agents", "budget")
    op.drop_column("agents", "model")
