"""Human approval of a tool call in Slack: the message people see, and who may decide it.

A call a ToolCredential marks for approval is announced in the task's thread with the agent, the
action and its (already scrubbed) arguments, and two buttons whose `value` is the approval id. When
someone clicks, only Slack's `user.id` counts: the person must be one of the credential's approvers
(a user id, or a member of a user group the credential names), must not be the identity the call was
made under (Nexus's own bot user: an agent cannot approve itself), and the approval must still be
pending. The message is then replaced by one that says who decided and when.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from oblivion_nexus.integrations.slack_text import escape_text

APPROVE, DENY = "approve", "deny"
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,20}")
# Slack's section text takes at most 3,000 characters; long arguments are cut, never split unsafely.
MAX_ARGS_CHARS = 2500


class Verdict(enum.StrEnum):
    APPROVED = "approved"
    DENIED = "denied"
    NOT_AN_APPROVER = "not_an_approver"
    SELF_APPROVAL = "self_approval"
    ALREADY_DECIDED = "already_decided"
    UNKNOWN_BUTTON = "unknown_button"


@dataclass(frozen=True)
class ApprovalRequest:
    approval_id: str
    agent: str
    tool: str
    credential: str
    action: str
    args: Mapping[str, Any]
    expires_at: str  # ISO 8601, shown to people


def _args_text(args: Mapping[str, Any]) -> str:
    text = json.dumps(args, indent=2, ensure_ascii=False, sort_keys=True, default=str)
    if len(text) > MAX_ARGS_CHARS:
        text = text[:MAX_ARGS_CHARS] + "\n…"
    # Inside a code block Slack still reads <…> as markup, so escaping keeps arguments inert.
    return escape_text(text.replace("```", "'''"))


def _mrkdwn(block_id: str, text: str) -> dict[str, Any]:
    return {"type": "section", "block_id": block_id, "text": {"type": "mrkdwn", "text": text}}


def _button(action_id: str, label: str, style: str, approval_id: str) -> dict[str, Any]:
    text = {"type": "plain_text", "text": label}
    return {"type": "button", "action_id": action_id, "style": style, "value": approval_id, "text": text}


def request_message(request: ApprovalRequest) -> tuple[str, list[dict[str, Any]]]:
    """The fallback text and Block Kit blocks of the approval request."""
    agent, action = escape_text(request.agent), escape_text(request.action)
    using = f"{escape_text(request.tool)} credential `{escape_text(request.credential)}`"
    until = f"Waiting for approval until {escape_text(request.expires_at)}"
    blocks: list[dict[str, Any]] = [
        _mrkdwn("summary", f"*{agent}* wants to run `{action}` with {using}"),
        _mrkdwn("args", f"```{_args_text(request.args)}```"),
        {"type": "context", "block_id": "expiry", "elements": [{"type": "mrkdwn", "text": until}]},
        {
            "type": "actions",
            "block_id": "decision",
            "elements": [
                _button(APPROVE, "Approve", "primary", request.approval_id),
                _button(DENY, "Deny", "danger", request.approval_id),
            ],
        },
    ]
    return f"{request.agent} wants to run {request.action}: approve or deny", blocks


def decided_message(
    request: ApprovalRequest, outcome: str, decided_by: str | None, at: str
) -> tuple[str, list[dict[str, Any]]]:
    """The message that replaces the request once it is approved, denied or expired."""
    by = ""
    if decided_by:
        by = f" by <@{decided_by}>" if _USER_ID.fullmatch(decided_by) else f" by {escape_text(decided_by)}"
    agent, action = escape_text(request.agent), escape_text(request.action)
    line = f"`{action}` for *{agent}* was *{escape_text(outcome)}*{by} at {escape_text(at)}"
    blocks = [_mrkdwn("summary", line), _mrkdwn("args", f"```{_args_text(request.args)}```")]
    return f"{request.action} for {request.agent} was {outcome}", blocks


def judge_click(
    *,
    action_id: str,
    clicker: str,
    approvers: Collection[str],
    group_members: Collection[str],
    acting_identity: str | None,
    pending: bool,
) -> Verdict:
    """What a click means. `approvers` holds user ids (U…/W…); `group_members` the members of any user
    groups (S…) the credential names, as Slack lists them; `acting_identity` is the Slack user the
    agent's messages are posted as."""
    if action_id not in (APPROVE, DENY):
        return Verdict.UNKNOWN_BUTTON
    if acting_identity is not None and clicker == acting_identity:
        return Verdict.SELF_APPROVAL
    if clicker not in approvers and clicker not in group_members:
        return Verdict.NOT_AN_APPROVER
    if not pending:
        return Verdict.ALREADY_DECIDED
    return Verdict.APPROVED if action_id == APPROVE else Verdict.DENIED


REFUSALS = {
    Verdict.NOT_AN_APPROVER: "You are not an approver of this action, so your click was not counted.",
    Verdict.SELF_APPROVAL: "The identity that asked for this action cannot approve it.",
    Verdict.ALREADY_DECIDED: "This request was already decided or has expired.",
    Verdict.UNKNOWN_BUTTON: "That button does not decide anything.",
}
