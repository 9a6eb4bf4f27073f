"""Approval in Slack: the message shows what will run without letting its arguments ping anyone, a
click is parsed from Slack's documented payload, and only an allowed person's click decides."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlencode

import pytest

from oblivion_nexus.integrations.errors import MalformedPayload
from oblivion_nexus.integrations.slack_interactivity import parse_interaction
from oblivion_nexus.services.tools.approvals import (
    APPROVE,
    DENY,
    ApprovalRequest,
    Verdict,
    decided_message,
    judge_click,
    request_message,
)

FIXTURE = Path(__file__).resolve().parents[6] / "shared" / "fixtures" / "slack" / "interactivity"
REQUEST = ApprovalRequest(
    approval_id="apr_01HZX3",
    agent="backend-bot",
    tool="github",
    credential="github",
    action="pulls.merge",
    args={
        "owner": "acme",
        "repo": "auth",
        "number": 42,
        "commit_title": "<!channel> <https://evil.example|login>",
    },
    expires_at="2026-12-07T12:00:00Z",
)


def fixture_body(**changes: object) -> bytes:
    payload = json.loads((FIXTURE / "block_actions_button.json").read_text())
    payload.update(changes)
    return urlencode({"payload": json.dumps(payload)}).encode()


def test_the_request_carries_the_approval_id_in_both_buttons_and_arguments_stay_inert() -> None:
    text, blocks = request_message(REQUEST)
    assert "pulls.merge" in text
    buttons = next(b for b in blocks if b["type"] == "actions")["elements"]
    assert [(b["action_id"], b["value"]) for b in buttons] == [(APPROVE, "apr_01HZX3"), (DENY, "apr_01HZX3")]
    rendered = json.dumps(blocks)
    assert "<!channel>" not in rendered
    assert "<https://evil.example" not in rendered
    assert "&lt;!channel&gt;" in rendered


def test_long_arguments_are_cut_below_slacks_section_limit() -> None:
    big = ApprovalRequest(**{**REQUEST.__dict__, "args": {"body": "x" * 10_000}})
    _, blocks = request_message(big)
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks if b["type"] == "section")


def test_the_decided_message_names_who_decided_and_has_no_buttons() -> None:
    text, blocks = decided_message(REQUEST, "approved", "UA8RXUSPL", "2026-12-07T11:00:00Z")
    assert text == "pulls.merge for backend-bot was approved"
    assert "<@UA8RXUSPL>" in blocks[0]["text"]["text"]
    assert all(b["type"] != "actions" for b in blocks)
    _, odd = decided_message(REQUEST, "denied", "<!here>", "now")
    assert "<!here>" not in json.dumps(odd)


def test_the_documented_block_actions_payload_becomes_a_click() -> None:
    click = parse_interaction(fixture_body())
    assert (click.user_id, click.action_id, click.value) == ("UA8RXUSPL", "approve", "apr_01HZX3")
    assert (click.channel_id, click.message_ts, click.thread_ts) == (
        "CBR2V3XEX",
        "1548261231.000200",
        "1548261100.000100",
    )
    assert click.team_id == "T9TK3CUKW"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"payload=not-json",
        b"other=1",
        urlencode({"payload": json.dumps({"type": "view_submission"})}).encode(),
        urlencode({"payload": json.dumps([1, 2])}).encode(),
        b"payload=" + b"x" * 70_000,
    ],
)
def test_anything_but_a_block_actions_click_is_refused_as_malformed(body: bytes) -> None:
    with pytest.raises(MalformedPayload):
        parse_interaction(body)


def test_a_click_without_a_user_is_refused_naming_the_field() -> None:
    with pytest.raises(MalformedPayload, match="user"):
        parse_interaction(fixture_body(user=None))


@pytest.mark.parametrize(
    ("action_id", "clicker", "pending", "verdict"),
    [
        (APPROVE, "UAPPROVER", True, Verdict.APPROVED),
        (DENY, "UAPPROVER", True, Verdict.DENIED),
        (APPROVE, "UGROUPMEMBER", True, Verdict.APPROVED),
        (APPROVE, "USTRANGER", True, Verdict.NOT_AN_APPROVER),
        (APPROVE, "UBOT", True, Verdict.SELF_APPROVAL),
        (APPROVE, "UAPPROVER", False, Verdict.ALREADY_DECIDED),
        (DENY, "USTRANGER", False, Verdict.NOT_AN_APPROVER),
        ("launch", "UAPPROVER", True, Verdict.UNKNOWN_BUTTON),
    ],
)
def test_only_a_listed_person_decides_a_pending_approval_and_never_the_asking_identity(
    action_id: str, clicker: str, pending: bool, verdict: Verdict
) -> None:
    approvers = {"UAPPROVER", "UBOT"}  # even if misconfigured to include the bot, it cannot approve
    assert judge_click(
        action_id=action_id, clicker=clicker, approvers=approvers, group_members={"UGROUPMEMBER"},
        acting_identity="UBOT", pending=pending,
    ) is verdict  # fmt: skip
