"""Whether an agent may run a tool action with a credential: deny by default, pure functions only.

An action runs only when every grant along the way allows it: the credential belongs to the agent's
workgroup and is of the tool's type, the credential's `agents` lists the agent (or is empty), the
agent's `spec.tools` names the credential, the credential's `allowedActions` match the action, and
so do the actions the agent's entry lists (none listed: all the credential allows). An action the
credential marks for approval then waits for a person instead of running.

Action patterns, as the CRDs describe them: `*` (every action), an exact name (`issues.create`), a
dotted prefix ending in `.*` (`pulls.*` matches `pulls.merge` and `pulls.reviews.create`), or for
http tools `METHOD /path` where `*` matches within one path segment and a trailing `*` matches the
rest of the path (`DELETE /*` is every DELETE, `GET /repos/*/hooks` one segment).

Built-in tools (`clickup`, `slack`) act through Nexus's own connections and have no credential: an
agent's `spec.tools` entry names the built-in, which then behaves as a credential of the agent's
workgroup listing only this agent and allowing all of its actions (:func:`decide_builtin`). Each call
must also stay within the projects of the agent's token (:func:`decide_scope`).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache


class Outcome(enum.StrEnum):
    ALLOW = "allow"
    APPROVAL = "approval"
    DENY = "deny"


@dataclass(frozen=True)
class CredentialGrant:
    """What a ToolCredential allows, as the operator registered it."""

    name: str
    workgroup: str
    type: str
    allowed_actions: tuple[str, ...]
    agents: tuple[str, ...] = ()
    approval_actions: tuple[str, ...] = ()


@dataclass(frozen=True)
class AgentTool:
    """One entry of an Agent's `spec.tools`: a credential (or a built-in tool, then `credential` is
    None) and, optionally, the actions it may use."""

    credential: str | None
    actions: tuple[str, ...] | None = None
    builtin: str | None = None


@dataclass(frozen=True)
class Caller:
    workgroup: str
    agent: str
    tools: tuple[AgentTool, ...] = field(default_factory=tuple)

    def tool_entry(self, credential: str) -> AgentTool | None:
        return next((t for t in self.tools if t.credential == credential), None)

    def builtin_entry(self, builtin: str) -> AgentTool | None:
        return next((t for t in self.tools if t.builtin == builtin), None)


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    rule: str

    @property
    def allowed(self) -> bool:
        return self.outcome is not Outcome.DENY


_HTTP_PATTERN = re.compile(r"^(GET|HEAD|POST|PUT|PATCH|DELETE) (/\S*)$")


@lru_cache(maxsize=4096)
def _http_regex(path_pattern: str) -> re.Pattern[str]:
    parts = re.split(r"(\*)", path_pattern)
    out = []
    for i, part in enumerate(parts):
        if part == "*":
            out.append(".*" if i == len(parts) - 2 and parts[-1] == "" else "[^/]*")
        else:
            out.append(re.escape(part))
    return re.compile("".join(out))


def action_matches(pattern: str, action: str) -> bool:
    """Whether one allowed-action pattern covers an action (see the module docstring)."""
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return action.startswith(pattern[:-1])
    http = _HTTP_PATTERN.match(pattern)
    if http:
        method, path = action.partition(" ")[::2]
        return (
            method == http.group(1)
            and path.startswith("/")
            and bool(_http_regex(http.group(2)).fullmatch(path))
        )
    return pattern == action


def any_matches(patterns: Iterable[str], action: str) -> bool:
    return any(action_matches(p, action) for p in patterns)


def decide(caller: Caller, credential: CredentialGrant, tool: str, action: str) -> Decision:
    """The decision for one call; `rule` says which grant refused it, or what allowed it."""
    if credential.workgroup != caller.workgroup:
        return Decision(
            Outcome.DENY, f"credential {credential.name!r} is not in workgroup {caller.workgroup!r}"
        )
    if credential.type != tool:
        return Decision(
            Outcome.DENY, f"credential {credential.name!r} is for {credential.type!r}, not {tool!r}"
        )
    if credential.agents and caller.agent not in credential.agents:
        return Decision(Outcome.DENY, f"credential {credential.name!r} does not list agent {caller.agent!r}")
    entry = caller.tool_entry(credential.name)
    if entry is None:
        return Decision(
            Outcome.DENY, f"agent {caller.agent!r} has no tools entry for credential {credential.name!r}"
        )
    if not any_matches(credential.allowed_actions, action):
        return Decision(Outcome.DENY, f"credential {credential.name!r} does not allow {action!r}")
    if entry.actions is not None and not any_matches(entry.actions, action):
        return Decision(
            Outcome.DENY, f"agent {caller.agent!r} is not granted {action!r} on {credential.name!r}"
        )
    if any_matches(credential.approval_actions, action):
        return Decision(Outcome.APPROVAL, f"credential {credential.name!r} requires approval for {action!r}")
    return Decision(Outcome.ALLOW, f"allowed by credential {credential.name!r}")


def builtin_credential(builtin: str) -> str:
    """The name a built-in tool's calls carry where others carry a credential's (audit, catalog)."""
    return f"builtin:{builtin}"


def decide_builtin(caller: Caller, builtin: str, action: str) -> Decision:
    """Whether the agent's `spec.tools` grants `action` of the built-in tool (known to exist)."""
    entry = caller.builtin_entry(builtin)
    if entry is None:
        return Decision(Outcome.DENY, f"agent {caller.agent!r} is not granted the built-in tool {builtin!r}")
    if entry.actions is not None and not any_matches(entry.actions, action):
        return Decision(
            Outcome.DENY, f"agent {caller.agent!r} is not granted {action!r} on the built-in {builtin!r}"
        )
    return Decision(Outcome.ALLOW, f"allowed by the agent's grant of the built-in {builtin!r}")


@dataclass(frozen=True)
class ProjectRef:
    """The project a ClickUp list or Slack channel belongs to."""

    workgroup: str
    name: str


def decide_scope(
    workgroup: str, token_projects: Sequence[str], target: str, owner: ProjectRef | None
) -> Decision:
    """Whether a built-in may act on `target` (e.g. "task 86c1"), whose project is `owner` (None:
    no project's). Only the projects of the caller's token count; a target of another workgroup gets
    the same answer as one of no project, so a refusal tells nothing about other workgroups."""
    if owner is None or owner.workgroup != workgroup or owner.name not in token_projects:
        allowed = ", ".join(token_projects) or "none"
        return Decision(Outcome.DENY, f"{target} is not in a project of this token (projects: {allowed})")
    return Decision(Outcome.ALLOW, f"{target} is in project {owner.name!r}")


class CredentialChoiceError(ValueError):
    """No credential, or more than one, fits a call that did not name one."""


def choose_credential(caller: Caller, credentials: Sequence[CredentialGrant], tool: str) -> CredentialGrant:
    """The credential for a call that names none: the one of the tool's type the agent's tools list."""
    listed = {t.credential for t in caller.tools}
    fitting = [
        c for c in credentials if c.type == tool and c.name in listed and c.workgroup == caller.workgroup
    ]
    if len(fitting) == 1:
        return fitting[0]
    if not fitting:
        raise CredentialChoiceError(f"agent {caller.agent!r} has no credential of type {tool!r}")
    names = ", ".join(sorted(c.name for c in fitting))
    raise CredentialChoiceError(
        f"agent {caller.agent!r} has several {tool!r} credentials ({names}): name one"
    )
