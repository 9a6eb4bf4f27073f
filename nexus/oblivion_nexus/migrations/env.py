"""Alembic environment of Nexus: runs on the connection handed over by ``stores.db.migrate``.

Offline mode (``alembic upgrade --sql``) renders the SQL for a reviewer without a database.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from oblivion_nexus.stores.tables import Base

target_metadata = Base.metadata


def _run_offline() -> None:
    context.configure(
        url="postgresql+psycopg://", target_metadata=target_metadata, literal_binds=True, compare_type=True
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_online(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    _run_offline()
else:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError(
            "run Nexus migrations with `oblivion nexus migrate`, which supplies the connection"
        )
    _run_online(connection)
