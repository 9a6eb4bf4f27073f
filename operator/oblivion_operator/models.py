"""Pydantic models of the four custom resources' specs and of their status conditions.

The API server already validates against the CRD schemas; these models repeat the rules the operator
relies on (and the cross-field ones the schema states in CEL) so a spec that slipped through — an older
CRD, a server without CEL — becomes a readable ``InvalidSpec`` condition instead of a crash.
"""

from __future__ import annotations

import datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

GROUP = "oblivion.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
WORKGROUP_LABEL = "oblivion.dev/workgroup"
ROTATE_ANNOTATION = "oblivion.dev/rotate-credentials"
FINALIZER = "oblivion.dev/cleanup"

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
SLACK_CHANNEL_NAME = r"^[a-z0-9][a-z0-9_-]{0,79}$"
RetentionPolicy = Literal["Retain", "Delete"]


class SpecModel(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields ignored (the API server prunes them)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True)


class SlackChannelRef(SpecModel):
    channel_name: str | None = Field(default=None, pattern=SLACK_CHANNEL_NAME)
    channel_id: str | None = Field(default=None, pattern=r"^[CG][A-Z0-9]{2,}$")

    @model_validator(mode="after")
    def _not_both(self) -> SlackChannelRef:
        if self.channel_name and self.channel_id:
            raise ValueError("slack: set channelName (to create) or channelId (to adopt), not both")
        return self


class WorkgroupClickUp(SpecModel):
    space_id: str | None = None
    folder_id: str | None = None


class SummaryModel(SpecModel):
    """The model that writes the workgroup's thread summaries (the shape of an Agent's model)."""

    provider: Literal["openai", "openai-compatible"] = "openai"
    name: str = Field(min_length=1)
    endpoint: str | None = None
    credential: str | None = None

    @model_validator(mode="after")
    def _endpoint_when_compatible(self) -> SummaryModel:
        if self.provider == "openai-compatible" and not self.endpoint:
            raise ValueError(
                "memory.summaryModel.endpoint is required when its provider is openai-compatible"
            )
        return self


class Memory(SpecModel):
    isolation: Literal["Shared", "PerProject"] = "Shared"
    summary_model: SummaryModel | None = None


class WorkgroupSpec(SpecModel):
    display_name: str | None = None
    namespace: str | None = Field(default=None, pattern=DNS_LABEL, max_length=63)
    slack: SlackChannelRef = SlackChannelRef()
    clickup: WorkgroupClickUp = WorkgroupClickUp()
    quota: dict[str, Any] | None = None
    memory: Memory = Memory()
    retention_policy: RetentionPolicy = "Retain"

    def namespace_for(self, name: str) -> str:
        return self.namespace or f"wg-{name}"

    @property
    def quota_hard(self) -> dict[str, str] | None:
        """The ResourceQuota ``hard`` map, whether the spec nests it under ``hard`` or not."""
        if not self.quota:
            return None
        hard = self.quota.get("hard", self.quota)
        if not isinstance(hard, dict):
            raise ValueError("quota.hard must be a map of resource name to quantity")
        return {str(k): str(v) for k, v in hard.items()}


TaskState = Literal["TODO", "IN_PROGRESS", "BLOCKED_ON_HUMAN", "DONE"]


class ProjectClickUp(SpecModel):
    list_id: str = Field(min_length=1)
    status_map: dict[TaskState, str] = {}


class ProjectSpec(SpecModel):
    display_name: str | None = None
    clickup: ProjectClickUp
    slack: SlackChannelRef = SlackChannelRef()
    start_date: datetime.date | datetime.datetime | None = None
    end_date: datetime.date | datetime.datetime | None = None
    archived: bool = False
    retention_policy: RetentionPolicy = "Retain"

    @model_validator(mode="after")
    def _dates_in_order(self) -> ProjectSpec:
        if self.start_date and self.end_date and _as_utc(self.end_date) < _as_utc(self.start_date):
            raise ValueError("endDate is before startDate")
        return self

    def is_over(self, now: datetime.datetime) -> bool:
        return self.archived or (self.end_date is not None and _as_utc(self.end_date) <= now)


def _as_utc(value: datetime.date | datetime.datetime) -> datetime.datetime:
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)
    # a date ends at the end of that day
    return datetime.datetime.combine(value, datetime.time.max, tzinfo=datetime.UTC)


class AgentModel(SpecModel):
    provider: str | None = None
    name: str | None = None
    endpoint: str | None = None
    credential: str | None = None


class AgentBudget(SpecModel):
    tokens_per_task: int | None = Field(default=None, ge=1)
    tokens_per_day: int | None = Field(default=None, ge=1)


class AgentTool(SpecModel):
    """A ToolCredential (``credential``) or a built-in tool of Nexus (``builtin``), and its actions."""

    credential: str | None = Field(default=None, min_length=1, max_length=253)
    builtin: Literal["clickup", "slack"] | None = None
    actions: list[str] = []

    @model_validator(mode="after")
    def _credential_or_builtin(self) -> AgentTool:
        if (self.credential is None) == (self.builtin is None):
            raise ValueError("a tools entry names exactly one of credential and builtin")
        return self

    def registration(self) -> dict[str, Any]:
        """The entry as Nexus's registry takes it; no actions means all the credential or built-in allows."""
        key, value = ("builtin", self.builtin) if self.builtin else ("credential", self.credential)
        return {key: value, "actions": list(self.actions) or None}


class RateLimit(SpecModel):
    messages_per_minute: int = Field(default=10, ge=1, le=600)


class EgressPort(SpecModel):
    port: int = Field(ge=1, le=65535)
    protocol: Literal["TCP", "UDP", "SCTP"] = "TCP"


class EgressRule(SpecModel):
    cidr: str = Field(min_length=1)
    ports: list[EgressPort] = []

    @field_validator("ports", mode="before")
    @classmethod
    def _bare_ports(cls, v: Any) -> Any:
        # `ports: [443]` is accepted as shorthand for `ports: [{port: 443}]`
        if isinstance(v, list):
            return [{"port": p} if isinstance(p, int) else p for p in v]
        return v


class AgentClickUp(SpecModel):
    user_id: str | None = None


class AgentSlack(SpecModel):
    icon_url: str | None = None
    icon_emoji: str | None = None


class AgentSpec(SpecModel):
    display_name: str | None = None
    description: str | None = None
    aliases: list[str] = []
    projects: list[str] = []
    image: str | None = None
    replicas: int = Field(default=1, ge=0, le=20)
    resources: dict[str, Any] | None = None
    env: list[dict[str, Any]] = []
    model: AgentModel = AgentModel()
    budget: AgentBudget = AgentBudget()
    instructions: str | None = None
    tools: list[AgentTool] = []
    rate_limit: RateLimit = RateLimit()
    egress: list[EgressRule] = []
    clickup: AgentClickUp = AgentClickUp()
    slack: AgentSlack = AgentSlack()

    @field_validator("env")
    @classmethod
    def _no_reserved_env(cls, v: list[dict[str, Any]]) -> list[dict[str, Any]]:
        reserved = {"OBLIVION_CLIENT_ID", "OBLIVION_CLIENT_SECRET", "OBLIVION_NEXUS_URL"}
        for item in v:
            if item.get("name") in reserved:
                raise ValueError(f"{item['name']} is set by the operator and cannot be overridden")
        return v


class SecretKeyRef(SpecModel):
    name: str = Field(min_length=1)
    key: str = Field(default="token", min_length=1)


class HttpToolConfig(SpecModel):
    base_url: str | None = None
    header_name: str | None = None
    scheme: str | None = None


class GitHubToolConfig(SpecModel):
    base_url: str = "https://api.github.com"


class ApprovalRule(SpecModel):
    actions: list[str] = Field(min_length=1)
    approvers: list[str] = Field(min_length=1)
    timeout_seconds: int = Field(default=3600, ge=30, le=604800)


class ToolCredentialSpec(SpecModel):
    type: Literal["github", "http", "openai", "anthropic", "slack", "clickup"]
    secret_ref: SecretKeyRef
    allowed_actions: list[str] = []
    agents: list[str] = []
    http: HttpToolConfig | None = None
    github: GitHubToolConfig | None = None
    approval: ApprovalRule | None = None

    @model_validator(mode="after")
    def _http_needs_base_url(self) -> ToolCredentialSpec:
        if self.type == "http" and not (self.http and self.http.base_url):
            raise ValueError("http.baseUrl is required when type is http")
        return self


M = TypeVar("M", bound=SpecModel)


class InvalidSpec(ValueError):
    """A spec the operator cannot act on; ``str()`` is the message shown in the Ready condition."""


def parse_spec(model: type[M], spec: Any) -> M:
    """Validate a raw spec, turning pydantic's errors into one message naming the fields."""
    try:
        return model.model_validate(dict(spec or {}))
    except ValidationError as e:
        parts = []
        for err in e.errors():
            where = ".".join(str(p) for p in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            parts.append(f"{where}: {msg}" if where else msg)
        raise InvalidSpec("; ".join(parts)) from None
    except ValueError as e:
        raise InvalidSpec(str(e)) from None
