"""Projects carry their memory isolation and, under ``PerProject``, their own collection's name (the
operator sends both); a project's Memory Bank backfill is a resumable row of ``memory_backfills``.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 07:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None

NAME = sa.String(253)


def upgrade() -> None:
    op.add_column(
        "projects", sa.Column("memory_isolation", sa.String(16), server_default="Shared", nullable=False)
    )
    op.add_column("projects", sa.Column("collection", NAME, nullable=True))
    op.create_table(
        "memory_backfills",
        sa.Column(
            "project_id",
            sa.Integer(),
            sa.ForeignKey("projects.id", name="fk_memory_backfills_project_id_projects", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("progress", postgresql.JSONB(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("project_id", name="pk_memory_backfills"),
    )
    op.create_index("ix_memory_backfills_state", "memory_backfills", ["state"])


def downgrade() -> None:
    op.drop_index("ix_memory_backfills_state", table_name="memory_backfills")
    op.drop_table("memory_backfills")
    op.drop_column("projects", "collection")
    op.drop_column("projects", "memory_isolation")
