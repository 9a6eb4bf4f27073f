"""The registry API's bodies: what the operator PUTs and what Nexus answers, in camelCase JSON.

Request bodies forbid unknown fields, so a typo in the operator fails loudly (422) instead of being
dropped. Secrets (``clientSecret``, a credential's ``value``) exist only in requests; no response model
has a field that could carry them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic.alias_generators import to_camel

# A Kubernetes object name (DNS-1123 subdomain): what the operator registers things under.
NAME_PATTERN = r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$"
_ALIAS = re.compile(r"^[a-z0-9][a-z0-9._-]{0,127}$")


class _Request(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=False,
        extra="forbid",
        frozen=True,
        str_strip_whitespace=True,
        # a too-short clientSecret would otherwise be repeated in the error's text
        hide_input_in_errors=True,
    )


class _Response(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)


class WorkgroupSpec(_Request):
    display_name: str | None = None
    namespace: str | None = None
    slack_channel_id: str | None = None
    collection: str | None = None


class WorkgroupView(_Response):
    name: str
    display_name: str | None
    namespace: str | None
    slack_channel_id: str | None
    collection: str | None


class ProjectSpec(_Request):
    display_name: str | None = None
    clickup_list_id: str | None = None
    slack_channel_id: str | None = None
    status_map: dict[str, str] = Field(
        default_factory=dict, description="Oblivion task state (TODO, IN_PROGRESS, …) → ClickUp status."
    )
    archived: bool = False

    @field_validator("clickup_list_id", mode="before")
    @classmethod
    def _id_as_text(cls, v: object) -> object:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v


class ProjectView(_Response):
    workgroup: str
    name: str
    display_name: str | None
    clickup_list_id: str | None
    slack_channel_id: str | None
    status_map: dict[str, str]
    archived: bool


class AgentSpec(_Request):
    display_name: str | None = None
    client_id: str = Field(min_length=1, max_length=255)
    client_secret: SecretStr = Field(min_length=8, max_length=1024)
    aliases: list[str] = Field(default_factory=list)
    projects: list[str] = Field(default_factory=list, description="Empty: every project of the workgroup.")
    clickup_user_id: str | None = None
    rate_limit_per_minute: int = Field(default=10, ge=1, le=100_000)
    icon_url: str | None = None
    icon_emoji: str | None = None
    disabled: bool = False

    @field_validator("aliases")
    @classmethod
    def _normalise_aliases(cls, v: list[str]) -> list[str]:
        aliases: list[str] = []
        for raw in v:
            alias = raw.strip().removeprefix("@").lower()
            if not _ALIAS.match(alias):
                raise ValueError(f"alias {raw!r} must be letters, digits, '.', '_' or '-' (at most 128)")
            if alias not in aliases:
                aliases.append(alias)
        return aliases

    @field_validator("projects")
    @classmethod
    def _unique_projects(cls, v: list[str]) -> list[str]:
        return list(dict.fromkeys(v))

    @field_validator("clickup_user_id", mode="before")
    @classmethod
    def _id_as_text(cls, v: object) -> object:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v


@dataclass(frozen=True, slots=True)
class AgentRecord:
    """An agent as Nexus knows it (never with its secret or hash): what the gateway and router need."""

    id: int
    workgroup: str
    name: str
    display_name: str | None
    client_id: str
    aliases: tuple[str, ...]
    projects: tuple[str, ...]
    clickup_user_id: str | None
    rate_limit_per_minute: int
    icon_url: str | None
    icon_emoji: str | None
    disabled: bool


class AgentView(_Response):
    workgroup: str
    name: str
    display_name: str | None
    client_id: str
    aliases: list[str]
    projects: list[str]
    clickup_user_id: str | None
    rate_limit_per_minute: int
    icon_url: str | None
    icon_emoji: str | None
    disabled: bool

    @classmethod
    def of(cls, record: AgentRecord) -> AgentView:
        return cls(
            workgroup=record.workgroup,
            name=record.name,
            display_name=record.display_name,
            client_id=record.client_id,
            aliases=list(record.aliases),
            projects=list(record.projects),
            clickup_user_id=record.clickup_user_id,
            rate_limit_per_minute=record.rate_limit_per_minute,
            icon_url=record.icon_url,
            icon_emoji=record.icon_emoji,
            disabled=record.disabled,
        )


class CredentialSpec(_Request):
    type: str = Field(min_length=1, max_length=64)
    value: SecretStr = Field(min_length=1, max_length=65_536)
    allowed_actions: list[str] = Field(default_factory=list)
    agents: list[str] = Field(default_factory=list, description="Agents allowed to use it; empty: all.")
    config: dict[str, Any] = Field(default_factory=dict)


class CredentialView(_Response):
    workgroup: str
    name: str
    type: str
    allowed_actions: list[str]
    agents: list[str]
    config: dict[str, Any]
    fingerprint: str
    key_id: str
    updated_at: datetime
