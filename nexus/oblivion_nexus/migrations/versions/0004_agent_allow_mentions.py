"""Agents get ``allow_mentions``: unless it is set, an agent's text reaches Slack escaped, so it cannot
ping a channel (``<!channel>``), mention people or disguise a link.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 04:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column(
        "agents", sa.Column("allow_mentions", sa.Boolean(), server_default=sa.false(), nullable=False)
    )


def downgrade() -> None:
    op.drop_column("agents", "allow_mentions")
