"""The registry API (``/internal/v1``) through which the operator declares tenants, projects, agents
and credentials. PUT is an idempotent upsert answering the stored object: 201 when it was created,
200 when it already existed. Secrets go in, never come out.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status

from oblivion_nexus.api.deps import AdminDep, ResourcesDep, SessionDep
from oblivion_nexus.api.gateway import delivery_hub
from oblivion_nexus.services import registry
from oblivion_nexus.services.auth import revocation
from oblivion_nexus.services.registry import credentials
from oblivion_nexus.services.registry.entries import RegistryNotFound
from oblivion_nexus.services.registry.schemas import (
    NAME_PATTERN,
    AgentSpec,
    AgentView,
    CredentialSpec,
    CredentialView,
    ProjectSpec,
    ProjectView,
    WorkgroupSpec,
    WorkgroupView,
)
from oblivion_nexus.services.tools.grants import grants_changed

router = APIRouter(prefix="/internal/v1", tags=["registry"], dependencies=[AdminDep])

Name = Annotated[str, Path(pattern=NAME_PATTERN, max_length=253)]


def _created(response: Response, created: bool) -> None:
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK


def _not_found(what: str) -> RegistryNotFound:
    return RegistryNotFound(f"{what} is not registered")


@router.put("/workgroups/{wg}", response_model=WorkgroupView)
async def put_workgroup(
    wg: Name, spec: WorkgroupSpec, session: SessionDep, response: Response
) -> WorkgroupView:
    view, created = await registry.put_workgroup(session, wg, spec)
    _created(response, created)
    return view


@router.get("/workgroups/{wg}", response_model=WorkgroupView)
async def get_workgroup(wg: Name, session: SessionDep) -> WorkgroupView:
    view = await registry.get_workgroup(session, wg)
    if view is None:
        raise _not_found(f"workgroup {wg!r}")
    return view


@router.delete("/workgroups/{wg}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_workgroup(wg: Name, session: SessionDep, resources: ResourcesDep, request: Request) -> None:
    """Delete the workgroup with its projects, agents, aliases, credentials and task mappings; its
    agents' tokens stop working and their Redis state (inbox, presence, …) is purged."""
    agents = await registry.delete_workgroup(session, wg)
    if agents is None:
        raise _not_found(f"workgroup {wg!r}")
    await revocation.agents_deleted(resources, delivery_hub(request), agents, "workgroup was deleted")
    await grants_changed(resources, wg)


@router.put("/workgroups/{wg}/projects/{project}", response_model=ProjectView)
async def put_project(
    wg: Name, project: Name, spec: ProjectSpec, session: SessionDep, response: Response
) -> ProjectView:
    view, created = await registry.put_project(session, wg, project, spec)
    _created(response, created)
    return view


@router.get("/workgroups/{wg}/projects/{project}", response_model=ProjectView)
async def get_project(wg: Name, project: Name, session: SessionDep) -> ProjectView:
    view = await registry.get_project(session, wg, project)
    if view is None:
        raise _not_found(f"project {wg}/{project}")
    return view


@router.delete("/workgroups/{wg}/projects/{project}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_project(wg: Name, project: Name, session: SessionDep) -> None:
    if not await registry.delete_project(session, wg, project):
        raise _not_found(f"project {wg}/{project}")


@router.put("/workgroups/{wg}/agents/{agent}", response_model=AgentView)
async def put_agent(
    wg: Name,
    agent: Name,
    spec: AgentSpec,
    session: SessionDep,
    resources: ResourcesDep,
    response: Response,
    request: Request,
) -> AgentView:
    """Register an agent; only a hash of ``clientSecret`` is kept and no response carries it.

    A new ``clientSecret`` or ``clientId``, fewer ``projects`` or ``disabled`` revoke the agent's
    earlier tokens at once and close the connections opened with them (4401; 4403 when disabled).
    """
    record, created = await registry.put_agent(session, wg, agent, spec)
    _created(response, created)
    await revocation.agent_saved(resources, delivery_hub(request), record)
    await grants_changed(resources, wg)  # its tools may have changed
    return AgentView.of(record)


@router.get("/workgroups/{wg}/agents/{agent}", response_model=AgentView)
async def get_agent(wg: Name, agent: Name, session: SessionDep) -> AgentView:
    record = await registry.get_agent(session, wg, agent)
    if record is None:
        raise _not_found(f"agent {wg}/{agent}")
    return AgentView.of(record)


@router.delete("/workgroups/{wg}/agents/{agent}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_agent(
    wg: Name, agent: Name, session: SessionDep, resources: ResourcesDep, request: Request
) -> None:
    """Delete an agent: its tokens stop working and its Redis state (inbox, presence, …) is purged."""
    record = await registry.delete_agent(session, wg, agent)
    if record is None:
        raise _not_found(f"agent {wg}/{agent}")
    await revocation.agents_deleted(resources, delivery_hub(request), [record], "agent was deleted")
    await grants_changed(resources, wg)


@router.put("/workgroups/{wg}/credentials/{name}", response_model=CredentialView)
async def put_credential(
    wg: Name,
    name: Name,
    spec: CredentialSpec,
    session: SessionDep,
    resources: ResourcesDep,
    response: Response,
) -> CredentialView:
    """Store a tool credential encrypted; the answer carries its ``fingerprint``, never the value."""
    view, created = await credentials.put_credential(session, resources.master_keys, wg, name, spec)
    await grants_changed(resources, wg)
    _created(response, created)
    return view


@router.get("/workgroups/{wg}/credentials/{name}", response_model=CredentialView)
async def get_credential(wg: Name, name: Name, session: SessionDep) -> CredentialView:
    view = await credentials.get_credential(session, wg, name)
    if view is None:
        raise _not_found(f"credential {wg}/{name}")
    return view


@router.delete("/workgroups/{wg}/credentials/{name}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_credential(wg: Name, name: Name, session: SessionDep, resources: ResourcesDep) -> None:
    if not await credentials.delete_credential(session, wg, name):
        raise _not_found(f"credential {wg}/{name}")
    await grants_changed(resources, wg)
