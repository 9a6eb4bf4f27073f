"""Workgroups carry the model that writes their thread summaries (the Workgroup's
``spec.memory.summaryModel``, sent by the operator); without one, summaries stay extractive.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("workgroups", sa.Column("summary_model", postgresql.JSONB(), nullable=True))


def downgrade() -> None:
    op.drop_column("workgroups", "summary_model")
