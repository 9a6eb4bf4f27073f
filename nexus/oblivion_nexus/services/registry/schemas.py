"""The registry API's bodies: what the operator PUTs and what Nexus answers, in camelCase JSON.

Request bodies forbid unknown fields, so a typo in the operator fails loudly (422) instead of being
dropped. Secrets (``clientSecret``, a credential's ``value``) exist only in requests; no response model
has a field that could carry them.

Every string is bounded by the column that stores it (read from the SQLAlchemy tables, so the two
cannot drift apart), and text PostgreSQL cannot store (NUL, lone surrogates) is refused here, so bad
input is a 422 naming the field and never a database error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from sqlalchemy import ColumnElement, String

from oblivion_nexus.services.registry.task_states import TaskState
from oblivion_nexus.stores import tables as t

# A Kubernetes object name (DNS-1123 subdomain): what the operator registers things under.
NAME_PATTERN = r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$"
_ALIAS = re.compile(r"^[a-z0-9][a-z0-9._-]{0,127}$")


def column_length(column: ColumnElement[Any]) -> int:
    """The declared length of a ``String(n)`` column: the most characters the registry accepts for it."""
    if not isinstance(column.type, String) or column.type.length is None:
        raise TypeError(f"{column} has no declared length")
    return column.type.length


def _max(column: ColumnElement[Any], *, min_length: int = 0) -> StringConstraints:
    return StringConstraints(min_length=min_length, max_length=column_length(column))


# Unbounded ``Text`` columns still get a bound: a name people read (Slack shows 80 characters of a
# bot's name) and a URL (2,048 characters is what browsers and Slack reliably accept).
_DISPLAY_NAME_CHARS = 256
_URL_CHARS = 2048
# A ClickUp status name or a tool action is a short label; the same bound as an alias.
_LABEL_CHARS = 128
# Lists are bounded so one registry PUT cannot make thousands of rows.
_MAX_ITEMS = 256

DisplayName = Annotated[str, StringConstraints(max_length=_DISPLAY_NAME_CHARS)]
Url = Annotated[str, StringConstraints(max_length=_URL_CHARS)]
Label = Annotated[str, StringConstraints(min_length=1, max_length=_LABEL_CHARS)]
Namespace = Annotated[str, _max(t.Workgroup.__table__.c.namespace)]
Collection = Annotated[str, _max(t.Workgroup.__table__.c.collection)]
ChannelId = Annotated[str, _max(t.Project.__table__.c.slack_channel_id)]
ListId = Annotated[str, _max(t.Project.__table__.c.clickup_list_id)]
ClientId = Annotated[str, _max(t.Agent.__table__.c.client_id, min_length=1)]
ClickUpUserId = Annotated[str, _max(t.Agent.__table__.c.clickup_user_id)]
IconEmoji = Annotated[str, _max(t.Agent.__table__.c.icon_emoji)]
ProjectName = Annotated[str, _max(t.AgentProject.__table__.c.project, min_length=1)]
AgentName = Annotated[str, _max(t.Agent.__table__.c.name, min_length=1)]
CredentialType = Annotated[str, _max(t.Credential.__table__.c.type, min_length=1)]
CredentialName = Annotated[str, _max(t.Credential.__table__.c.name, min_length=1)]
ModelName = Annotated[str, _max(t.ModelUsage.__table__.c.model, min_length=1)]


def _unstorable(value: object) -> str | None:
    """Why PostgreSQL could not store ``value`` (nested anywhere in it), or None."""
    if isinstance(value, str):
        if "\x00" in value:
            return "must not contain NUL characters"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "must be valid Unicode text (no lone surrogates)"
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            problem = _unstorable(key) or _unstorable(item)
            if problem:
                return problem
    if isinstance(value, list | tuple):
        for item in value:
            problem = _unstorable(item)
            if problem:
                return problem
    return None


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

    @field_validator("*", mode="before")
    @classmethod
    def _storable(cls, v: object, info: ValidationInfo) -> object:
        problem = _unstorable(v.get_secret_value() if isinstance(v, SecretStr) else v)
        if problem:
            raise ValueError(f"{to_camel(info.field_name or 'value')} {problem}")
        return v


class _Response(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)


class SummaryModelSpec(_Request):
    """The Workgroup's spec.memory.summaryModel: the model that writes its thread summaries."""

    provider: Literal["openai", "openai-compatible"] = "openai"
    name: ModelName
    endpoint: Url | None = Field(
        default=None,
        pattern=r"^https?://[^\s]+$",
        description="openai-compatible: the server's base URL (required for that provider).",
    )
    credential: CredentialName | None = Field(
        default=None,
        description="The `openai` credential to call it with; omitted: the workgroup's only one not "
        "restricted to agents (for openai-compatible: the one whose baseUrl is the endpoint, or none).",
    )

    @model_validator(mode="after")
    def _endpoint_when_compatible(self) -> SummaryModelSpec:
        if self.provider == "openai-compatible" and not self.endpoint:
            raise ValueError(
                "summaryModel.endpoint is required when summaryModel.provider is openai-compatible"
            )
        return self


class WorkgroupSpec(_Request):
    display_name: DisplayName | None = None
    namespace: Namespace | None = None
    slack_channel_id: ChannelId | None = None
    collection: Collection | None = None
    summary_model: SummaryModelSpec | None = Field(
        default=None, description="Omitted: thread summaries are extractive."
    )


class WorkgroupView(_Response):
    name: str
    display_name: str | None
    namespace: str | None
    slack_channel_id: str | None
    collection: str | None
    summary_model: dict[str, Any] | None = None


class ProjectSpec(_Request):
    display_name: DisplayName | None = None
    clickup_list_id: ListId | None = None
    slack_channel_id: ChannelId | None = None
    status_map: dict[str, Label] = Field(
        default_factory=dict, description="Oblivion task state (TODO, IN_PROGRESS, …) → ClickUp status."
    )
    archived: bool = False
    memory_isolation: Literal["Shared", "PerProject"] = Field(
        default="Shared", description="The workgroup's memory.isolation when the operator registered it."
    )
    collection: Collection | None = Field(
        default=None, description="The project's own Qdrant collection; required under PerProject only."
    )

    @model_validator(mode="after")
    def _collection_matches_isolation(self) -> ProjectSpec:
        if self.memory_isolation == "PerProject" and not self.collection:
            raise ValueError("collection is required when memoryIsolation is PerProject")
        if self.memory_isolation == "Shared" and self.collection:
            raise ValueError(
                "collection is only for memoryIsolation PerProject (a Shared project uses its workgroup's)"
            )
        return self

    @field_validator("status_map")
    @classmethod
    def _known_states(cls, v: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(v) - {state.value for state in TaskState})
        if unknown:
            known = ", ".join(state.value for state in TaskState)
            raise ValueError(f"statusMap has unknown states {unknown[:5]}; the states are {known}")
        return v

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
    memory_isolation: str
    collection: str | None


# What the CRDs allow: `*`, a name, a dotted prefix ending in `.*`, or `METHOD /path` for http tools.
ActionPattern = Annotated[
    str,
    StringConstraints(
        min_length=1,
        max_length=256,
        pattern=r"^(\*|[a-z][a-zA-Z0-9_]*(\.([a-zA-Z0-9_]+|\*))*|(GET|HEAD|POST|PUT|PATCH|DELETE) /[^\s]*)$",
    ),
]
# Slack user ids (U…, W…) or user group ids (S…).
SlackPrincipal = Annotated[str, StringConstraints(pattern=r"^[UWS][A-Z0-9]{2,20}$")]


# The tools Nexus runs with its own ClickUp and Slack connections, and the actions of each: an
# Agent's spec.tools entry grants one by name (``builtin``) instead of naming a credential.
BUILTIN_ACTIONS: dict[str, tuple[str, ...]] = {
    "clickup": ("tasks.get", "tasks.list", "comments.list", "comments.create"),
    "slack": ("messages.post",),
}


def _covers(pattern: str, action: str) -> bool:
    """Whether a built-in's action pattern (`*`, a name, or a dotted prefix ending in `.*`) covers it."""
    return pattern in ("*", action) or (pattern.endswith(".*") and action.startswith(pattern[:-1]))


class AgentToolSpec(_Request):
    """One entry of the Agent's spec.tools: a credential of its workgroup, or a built-in tool
    (``clickup``, ``slack``), and the actions it may use."""

    credential: CredentialName | None = None
    builtin: Literal["clickup", "slack"] | None = None
    actions: list[ActionPattern] | None = Field(
        default=None,
        max_length=128,
        description="Omitted: every action the credential allows, or every action of the built-in.",
    )

    @model_validator(mode="after")
    def _credential_or_builtin(self) -> AgentToolSpec:
        if (self.credential is None) == (self.builtin is None):
            raise ValueError("a tools entry names exactly one of credential and builtin")
        if self.builtin is not None:
            known = BUILTIN_ACTIONS[self.builtin]
            for pattern in self.actions or ():
                if not any(_covers(pattern, action) for action in known):
                    raise ValueError(
                        f"the built-in {self.builtin} has no action {pattern!r}; it has {', '.join(known)}"
                    )
        return self

    def stored(self) -> dict[str, Any]:
        """The entry as the agents table keeps it: ``credential`` or ``builtin``, and ``actions``."""
        key, value = ("builtin", self.builtin) if self.builtin else ("credential", self.credential)
        return {key: value, "actions": self.actions}


class ApprovalSpec(_Request):
    """Actions of a credential that wait for a person's yes in Slack, who may give it, and for how long."""

    actions: list[ActionPattern] = Field(min_length=1, max_length=128)
    approvers: list[SlackPrincipal] = Field(min_length=1, max_length=256)
    timeout_seconds: int = Field(default=3600, ge=30, le=7 * 24 * 3600)


# A budget beyond a trillion tokens is no budget; the bound keeps sums within PostgreSQL's bigint.
_MAX_TOKENS = 10**12


class AgentModelSpec(_Request):
    """The Agent's spec.model: the one model its calls through the model gateway go to."""

    provider: Literal["openai", "anthropic", "openai-compatible"] = "openai"
    name: ModelName
    endpoint: Url | None = Field(
        default=None,
        pattern=r"^https?://[^\s]+$",
        description="openai-compatible: the server's base URL (it picks the workgroup credential with "
        "that baseUrl, or is called without a key when none has it).",
    )
    credential: CredentialName | None = Field(
        default=None, description="The model credential to use; omitted: the workgroup's one of the type."
    )


class AgentBudgetSpec(_Request):
    """The Agent's spec.budget: tokens (prompt plus completion) it may spend; omitted: no limit."""

    tokens_per_task: int | None = Field(default=None, ge=1, le=_MAX_TOKENS)
    tokens_per_day: int | None = Field(default=None, ge=1, le=_MAX_TOKENS)


class AgentSpec(_Request):
    display_name: DisplayName | None = None
    client_id: ClientId
    client_secret: SecretStr = Field(min_length=8, max_length=1024)
    aliases: list[str] = Field(default_factory=list, max_length=_MAX_ITEMS)
    projects: list[ProjectName] = Field(
        default_factory=list, max_length=_MAX_ITEMS, description="Empty: every project of the workgroup."
    )
    clickup_user_id: ClickUpUserId | None = None
    rate_limit_per_minute: int = Field(default=10, ge=1, le=100_000)
    icon_url: Url | None = None
    icon_emoji: IconEmoji | None = None
    disabled: bool = False
    allow_mentions: bool = Field(
        default=False,
        description="Let the agent's text ping (<!channel>, <@U…>) and format links in Slack; "
        "off, its text is escaped and shows literally.",
    )
    tools: list[AgentToolSpec] = Field(default_factory=list, max_length=64)
    model: AgentModelSpec | None = Field(default=None, description="Omitted: the agent may call no model.")
    budget: AgentBudgetSpec = Field(default_factory=AgentBudgetSpec)

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
    credential_generation: int = 1  # tokens carry it; see ``auth.revocation``
    allow_mentions: bool = False
    # [{"credential": name, "actions": [...] | None}] or [{"builtin": "clickup", "actions": …}]
    tools: tuple[dict[str, Any], ...] = ()
    model: dict[str, Any] | None = None  # {"provider", "name", "endpoint", "credential"}
    budget: dict[str, Any] = field(default_factory=dict)  # {"tokensPerTask", "tokensPerDay"}


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
    allow_mentions: bool
    tools: list[dict[str, Any]]
    model: dict[str, Any] | None = None
    budget: dict[str, Any] = Field(default_factory=dict)

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
            allow_mentions=record.allow_mentions,
            tools=list(record.tools),
            model=record.model,
            budget=record.budget,
        )


class CredentialSpec(_Request):
    type: CredentialType
    value: SecretStr = Field(min_length=1, max_length=65_536)
    allowed_actions: list[Label] = Field(default_factory=list, max_length=_MAX_ITEMS)
    agents: list[AgentName] = Field(
        default_factory=list, max_length=_MAX_ITEMS, description="Agents allowed to use it; empty: all."
    )
    config: dict[str, Any] = Field(default_factory=dict)
    approval: ApprovalSpec | None = None


class CredentialView(_Response):
    workgroup: str
    name: str
    type: str
    allowed_actions: list[str]
    agents: list[str]
    config: dict[str, Any]
    approval: dict[str, Any] | None = None
    fingerprint: str
    key_id: str
    updated_at: datetime
