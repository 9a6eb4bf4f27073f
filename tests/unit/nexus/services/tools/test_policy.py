"""The Tool Gateway's decisions, one row per rule: deny by default, every grant must agree."""

from __future__ import annotations

import pytest

from oblivion_nexus.services.tools.policy import (
    AgentTool,
    Caller,
    CredentialChoiceError,
    CredentialGrant,
    Outcome,
    ProjectRef,
    action_matches,
    builtin_credential,
    choose_credential,
    decide,
    decide_builtin,
    decide_scope,
)

GITHUB = CredentialGrant(
    name="github",
    workgroup="squad-backend",
    type="github",
    allowed_actions=("repos.*", "issues.*", "pulls.*"),
    agents=("backend-bot",),
    approval_actions=("pulls.merge",),
)
BOT = Caller("squad-backend", "backend-bot", (AgentTool("github"),))


@pytest.mark.parametrize(
    ("pattern", "action", "expected"),
    [
        ("*", "issues.create", True),
        ("issues.create", "issues.create", True),
        ("issues.create", "issues.update", False),
        ("issues.*", "issues.create", True),
        ("issues.*", "issues.comments.create", True),
        ("issues.*", "issuesx.create", False),
        ("issues.*", "pulls.merge", False),
        ("pulls.merge", "pulls.merge_all", False),
        ("DELETE /*", "DELETE /v1/items/7", True),
        ("DELETE /*", "GET /v1/items/7", False),
        ("GET /status", "GET /status", True),
        ("GET /status", "GET /status/extra", False),
        ("GET /repos/*/hooks", "GET /repos/api/hooks", True),
        ("GET /repos/*/hooks", "GET /repos/api/x/hooks", False),
        ("GET /v1/*", "GET /v1/a/b/c", True),
        ("GET /v1/*", "GET /v2/a", False),
        ("GET /a.b", "GET /aXb", False),
        ("POST /items", "issues.create", False),
    ],
)
def test_an_action_pattern_covers_exactly_what_the_crd_says(
    pattern: str, action: str, expected: bool
) -> None:
    assert action_matches(pattern, action) is expected


@pytest.mark.parametrize(
    ("caller", "credential", "tool", "action", "outcome", "rule_mentions"),
    [
        (BOT, GITHUB, "github", "issues.create", Outcome.ALLOW, "allowed by credential 'github'"),
        (BOT, GITHUB, "github", "pulls.merge", Outcome.APPROVAL, "requires approval"),
        (Caller("squad-frontend", "backend-bot", (AgentTool("github"),)), GITHUB, "github", "issues.create",
         Outcome.DENY, "not in workgroup 'squad-frontend'"),
        (BOT, GITHUB, "http", "issues.create", Outcome.DENY, "is for 'github', not 'http'"),
        (Caller("squad-backend", "intruder", (AgentTool("github"),)), GITHUB, "github", "issues.create",
         Outcome.DENY, "does not list agent 'intruder'"),
        (Caller("squad-backend", "backend-bot", ()), GITHUB, "github", "issues.create",
         Outcome.DENY, "no tools entry for credential 'github'"),
        (BOT, GITHUB, "github", "actions.get_job_logs", Outcome.DENY, "does not allow 'actions.get_job"),
        (Caller("squad-backend", "backend-bot", (AgentTool("github", ("issues.get", "issues.list")),)),
         GITHUB, "github", "issues.create", Outcome.DENY, "is not granted 'issues.create'"),
        (Caller("squad-backend", "backend-bot", (AgentTool("github", ("issues.*",)),)), GITHUB,
         "github", "issues.create", Outcome.ALLOW, "allowed"),
        (Caller("squad-backend", "anyone", (AgentTool("github"),)), CredentialGrant(
            name="github", workgroup="squad-backend", type="github", allowed_actions=("*",)),
         "github", "pulls.merge", Outcome.ALLOW, "allowed"),
        (Caller("squad-backend", "backend-bot", (AgentTool("github", ("pulls.*",)),)), GITHUB,
         "github", "pulls.merge", Outcome.APPROVAL, "requires approval"),
    ],
)  # fmt: skip
def test_each_grant_can_refuse_and_only_all_together_allow(
    caller: Caller, credential: CredentialGrant, tool: str, action: str, outcome: Outcome, rule_mentions: str
) -> None:
    decision = decide(caller, credential, tool, action)
    assert decision.outcome is outcome
    assert rule_mentions in decision.rule
    assert decision.allowed is (outcome is not Outcome.DENY)


def test_a_call_without_a_credential_gets_the_one_of_its_type() -> None:
    http = CredentialGrant("status-api", "squad-backend", "http", ("GET /*",))
    caller = Caller("squad-backend", "backend-bot", (AgentTool("github"), AgentTool("status-api")))
    assert choose_credential(caller, [GITHUB, http], "github") is GITHUB
    assert choose_credential(caller, [GITHUB, http], "http") is http


def test_a_call_without_a_credential_is_refused_when_none_or_several_fit() -> None:
    second = CredentialGrant("github-ops", "squad-backend", "github", ("*",))
    other_wg = CredentialGrant("github", "squad-frontend", "github", ("*",))
    caller = Caller("squad-backend", "backend-bot", (AgentTool("github"), AgentTool("github-ops")))
    with pytest.raises(CredentialChoiceError, match=r"several 'github' credentials \(github, github-ops\)"):
        choose_credential(caller, [GITHUB, second], "github")
    with pytest.raises(CredentialChoiceError, match="no credential of type 'http'"):
        choose_credential(caller, [GITHUB, second], "http")
    lonely = Caller("squad-backend", "backend-bot", (AgentTool("github"),))
    with pytest.raises(CredentialChoiceError, match="no credential of type 'github'"):
        choose_credential(lonely, [other_wg], "github")


CLICKUP_READER = Caller(
    "squad-backend", "backend-bot", (AgentTool(None, ("tasks.get", "comments.*"), builtin="clickup"),)
)
ALL_BUILTINS = Caller(
    "squad-backend", "backend-bot", (AgentTool(None, builtin="clickup"), AgentTool(None, builtin="slack"))
)


@pytest.mark.parametrize(
    ("caller", "builtin", "action", "outcome", "rule_mentions"),
    [
        (CLICKUP_READER, "clickup", "tasks.get", Outcome.ALLOW, "grant of the built-in 'clickup'"),
        (CLICKUP_READER, "clickup", "comments.create", Outcome.ALLOW, "allowed"),
        (CLICKUP_READER, "clickup", "tasks.list", Outcome.DENY, "not granted 'tasks.list' on the built-in"),
        (CLICKUP_READER, "slack", "messages.post", Outcome.DENY, "not granted the built-in tool 'slack'"),
        (ALL_BUILTINS, "clickup", "tasks.list", Outcome.ALLOW, "allowed"),
        (ALL_BUILTINS, "slack", "messages.post", Outcome.ALLOW, "allowed"),
        (BOT, "clickup", "tasks.get", Outcome.DENY, "not granted the built-in tool 'clickup'"),
        (Caller("squad-backend", "backend-bot", (AgentTool("clickup"),)), "clickup", "tasks.get",
         Outcome.DENY, "not granted the built-in tool 'clickup'"),
    ],
)  # fmt: skip
def test_a_builtin_runs_only_when_the_agents_tools_grant_it_and_the_action(
    caller: Caller, builtin: str, action: str, outcome: Outcome, rule_mentions: str
) -> None:
    decision = decide_builtin(caller, builtin, action)
    assert decision.outcome is outcome
    assert rule_mentions in decision.rule


def test_a_credential_named_like_a_builtin_grants_no_builtin_and_a_builtin_no_credential() -> None:
    named_clickup = CredentialGrant("clickup", "squad-backend", "github", ("*",))
    assert not decide(ALL_BUILTINS, named_clickup, "github", "issues.get").allowed
    assert builtin_credential("clickup") == "builtin:clickup"


@pytest.mark.parametrize(
    ("owner", "outcome", "rule_mentions"),
    [
        (ProjectRef("squad-backend", "payments"), Outcome.ALLOW, "is in project 'payments'"),
        (ProjectRef("squad-backend", "auth"), Outcome.ALLOW, "is in project 'auth'"),
        (ProjectRef("squad-backend", "billing"), Outcome.DENY, "not in a project of this token"),
        (ProjectRef("squad-frontend", "payments"), Outcome.DENY, "not in a project of this token"),
        (None, Outcome.DENY, "(projects: payments, auth)"),
    ],
)
def test_a_builtin_reaches_only_the_projects_of_the_token(
    owner: ProjectRef | None, outcome: Outcome, rule_mentions: str
) -> None:
    decision = decide_scope("squad-backend", ("payments", "auth"), "task 86c1", owner)
    assert decision.outcome is outcome
    assert rule_mentions in decision.rule
    assert decision.rule.startswith("task 86c1")


def test_a_refusal_for_another_workgroup_reads_like_one_for_no_project() -> None:
    other = decide_scope("squad-backend", ("payments",), "task 1", ProjectRef("squad-frontend", "payments"))
    nowhere = decide_scope("squad-backend", ("payments",), "task 1", None)
    assert other == nowhere
    assert "squad-frontend" not in other.rule


def test_a_token_without_projects_reaches_no_project() -> None:
    decision = decide_scope("squad-backend", (), "channel C1", ProjectRef("squad-backend", "payments"))
    assert decision.outcome is Outcome.DENY
    assert "(projects: none)" in decision.rule
