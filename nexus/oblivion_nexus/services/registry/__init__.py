"""The registry: what the operator declares (workgroups, projects, agents, tool credentials), as
Nexus stores it.

- ``entries``: workgroups, projects and agents, written idempotently, with an audit record;
- ``credentials``: tool credentials, sealed at rest;
- ``schemas``: the registry API's request and response bodies;
- ``task_states``: the states of a task a project maps to ClickUp statuses, and the moves an agent
  may make.

The package re-exports ``entries``, so callers write ``registry.get_agent(...)``.
"""

from oblivion_nexus.services.registry.entries import (
    AgentCredentialState,
    RegistryConflict,
    RegistryError,
    RegistryNotFound,
    client_secret_hash,
    delete_agent,
    delete_audited,
    delete_project,
    delete_workgroup,
    get_agent,
    get_agent_by_client_id,
    get_agent_status,
    get_credential_state,
    get_project,
    get_workgroup,
    list_agents,
    list_project_names,
    narrows_projects,
    put_agent,
    put_project,
    put_workgroup,
    record_audit,
    require_channel_free,
    require_workgroup,
    upsert_audited,
)

__all__ = [
    "AgentCredentialState",
    "RegistryConflict",
    "RegistryError",
    "RegistryNotFound",
    "client_secret_hash",
    "delete_agent",
    "delete_audited",
    "delete_project",
    "delete_workgroup",
    "get_agent",
    "get_agent_by_client_id",
    "get_agent_status",
    "get_credential_state",
    "get_project",
    "get_workgroup",
    "list_agents",
    "list_project_names",
    "narrows_projects",
    "put_agent",
    "put_project",
    "put_workgroup",
    "record_audit",
    "require_channel_free",
    "require_workgroup",
    "upsert_audited",
]
