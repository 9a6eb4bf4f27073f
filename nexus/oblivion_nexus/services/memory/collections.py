"""Which Qdrant collection holds a project's memory, as the registry records it.

The operator makes the collections and registers their names: the workgroup's (``tenant_<wg>``,
``project_id`` as the tenant field) and, under ``memory.isolation: PerProject``, the project's own.
Ingestion, search and backfill ask here instead of deriving names, so a name the operator chose is
the one Nexus writes to. The registry's tables are read directly (the registry service sits above
the Memory Bank in the service layers).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from oblivion_nexus.services.memory.errors import MemoryBankError
from oblivion_nexus.stores import tables as t
from oblivion_nexus.stores.vectors import collection_name


class ProjectNotRegistered(MemoryBankError):
    """The workgroup or project is not in the registry, so it has no memory to read or write."""

    status = 404

    def __init__(self, workgroup: str, project: str) -> None:
        super().__init__(f"project {workgroup}/{project} is not registered")
        self.workgroup = workgroup
        self.project = project


@dataclass(frozen=True, slots=True)
class ProjectCollection:
    """Where a project's points go: ``collection``, with ``project_id`` = ``project`` in each point."""

    workgroup: str
    project: str
    collection: str
    isolation: str  # "Shared" or "PerProject"


async def collection_for(session: AsyncSession, workgroup: str, project: str) -> ProjectCollection:
    """The collection of ``workgroup``/``project``: its own under ``PerProject``, else the
    workgroup's (as registered; ``tenant_<wg>`` for a workgroup registered without one)."""
    stmt = (
        select(t.Project.memory_isolation, t.Project.collection, t.Workgroup.collection.label("shared"))
        .join(t.Workgroup, t.Workgroup.name == t.Project.workgroup)
        .where(t.Project.workgroup == workgroup, t.Project.name == project)
    )
    row = (await session.execute(stmt)).one_or_none()
    if row is None:
        raise ProjectNotRegistered(workgroup, project)
    if row.memory_isolation == "PerProject" and row.collection:
        return ProjectCollection(workgroup, project, row.collection, "PerProject")
    return ProjectCollection(workgroup, project, row.shared or collection_name(workgroup), "Shared")


async def collections_of(session: AsyncSession, workgroup: str) -> dict[str, str]:
    """Every registered project of ``workgroup`` → its collection (for searches over several projects,
    which group projects by collection)."""
    stmt = (
        select(t.Project.name, t.Project.memory_isolation, t.Project.collection, t.Workgroup.collection)
        .join(t.Workgroup, t.Workgroup.name == t.Project.workgroup)
        .where(t.Project.workgroup == workgroup)
    )
    shared_default = collection_name(workgroup)
    return {
        name: (own if isolation == "PerProject" and own else shared or shared_default)
        for name, isolation, own, shared in (await session.execute(stmt)).all()
    }


async def registered_collections(session: AsyncSession) -> list[str]:
    """Every collection a registered project's memory lives in, for checks at start-up."""
    stmt = select(
        t.Project.workgroup, t.Project.memory_isolation, t.Project.collection, t.Workgroup.collection
    ).join(t.Workgroup, t.Workgroup.name == t.Project.workgroup)
    found = {
        own if isolation == "PerProject" and own else shared or collection_name(workgroup)
        for workgroup, isolation, own, shared in (await session.execute(stmt)).all()
    }
    return sorted(found)
