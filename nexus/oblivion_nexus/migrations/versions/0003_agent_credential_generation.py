"""Agents get a credential generation: access tokens carry it, and a token of an older one is refused.

The registry raises it when an agent's client secret or client id changes or its projects are
narrowed, which revokes every token issued before at once (tokens are otherwise valid until expiry).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 04:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column(
        "agents",
        sa.Column("credential_generation", sa.Integer(), server_default=sa.text("1"), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("agents", "credential_generation")
