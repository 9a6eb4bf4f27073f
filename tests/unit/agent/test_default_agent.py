"""The default agent's pure parts: who said what in a thread, what is still unanswered, the
conversation the model gets, the tools it is offered, and its settings."""

from __future__ import annotations

import pytest

from oblivion_agent import Agent, ConfigurationError, TaskContext, ToolInfo
from oblivion_agent.cli import load_agent
from oblivion_agent.default import DefaultAgentSettings, load_default_settings
from oblivion_agent.default._loop import Toolbox
from oblivion_agent.default._transcript import conversation, has_spoken, unanswered
from oblivion_agent.protocol import FrameType, MemoryHit

SETTINGS = DefaultAgentSettings(
    name="coder", display_name="Coder Bot", description="Fixes bugs", instructions="Be brief."
)
ROOT = {"ts": "1.0", "user": "UBOT", "botId": "B1", "text": "Login loops"}


def known(*replies: dict[str, str], state: str = "IN_PROGRESS") -> TaskContext:
    return TaskContext.model_validate(
        {
            "task": {"id": "t1", "name": "Login loops", "description": "It redirects to itself."},
            "project": "auth",
            "state": state,
            "channel": "C1",
            "threadTs": "1.0",
            "thread": [ROOT, *replies],
        }
    )


MINE = {"ts": "2.0", "botId": "B1", "username": "Coder Bot", "text": "On it."}
ASKED = {"ts": "3.0", "botId": "B1", "username": "Coder Bot", "text": "Main or 2.x?"}
PERSON = {"ts": "4.0", "user": "U1", "text": "Main only."}
FROM_CLICKUP = {"ts": "5.0", "botId": "B1", "username": "Ada (ClickUp)", "text": "And add a test."}
NOTICE = {"ts": "6.0", "botId": "B1", "text": "The model budget of coder is spent."}


def test_the_agents_own_messages_are_told_apart_by_the_name_it_posts_under() -> None:
    assert not has_spoken(known(PERSON), SETTINGS.posting_names)
    assert has_spoken(known(MINE), SETTINGS.posting_names)
    assert not has_spoken(known(MINE), frozenset({"someone-else"}))


def test_people_in_slack_and_clickup_after_the_agents_last_message_are_unanswered() -> None:
    thread = known(MINE, PERSON, ASKED, PERSON | {"ts": "7.0", "text": "Main."}, FROM_CLICKUP, NOTICE)
    assert [m.text for m in unanswered(thread, SETTINGS.posting_names)] == ["Main.", "And add a test."]
    assert unanswered(known(MINE, PERSON, ASKED, NOTICE), SETTINGS.posting_names) == []


def test_the_conversation_is_the_prompt_the_task_and_the_thread_as_turns() -> None:
    hit = MemoryHit.model_validate(
        {
            "id": "p1",
            "text": "Password resets reuse the old session",
            "score": 0.9,
            "kind": "message",
            "source": "slack",
            "project": "auth",
            "author": "Ada",
            "timestamp": 1.0,
        }
    )
    messages = conversation(known(MINE, ASKED, PERSON, NOTICE), [hit], SETTINGS)

    system, brief, *turns = messages
    assert system["role"] == "system"
    assert "Coder Bot" in system["content"]
    assert "Fixes bugs" in system["content"]
    assert "Be brief." in system["content"]
    assert "It redirects to itself." in brief["content"]
    assert "Password resets reuse the old session" in brief["content"]
    assert turns == [
        {"role": "assistant", "content": "On it."},
        {"role": "assistant", "content": "Main or 2.x?"},
        {"role": "user", "content": "U1: Main only."},
        {"role": "user", "content": "(notice from Oblivion) The model budget of coder is spent."},
    ]


def test_a_reply_the_thread_does_not_show_yet_is_added_once() -> None:
    late = conversation(known(MINE, ASKED), [], SETTINGS, latest="Main only.")
    assert late[-1] == {"role": "user", "content": "Main only."}
    shown = conversation(known(MINE, ASKED, PERSON), [], SETTINGS, latest="Main only.")
    assert [m["content"] for m in shown].count("Main only.") == 0
    assert shown[-1] == {"role": "user", "content": "U1: Main only."}


def test_a_thread_ending_with_the_agent_asks_the_model_to_go_on() -> None:
    assert conversation(known(MINE), [], SETTINGS)[-1]["role"] == "user"


def test_tool_gateway_actions_become_functions_with_valid_distinct_names() -> None:
    def info(tool: str, credential: str, action: str) -> ToolInfo:
        return ToolInfo.model_validate(
            {
                "tool": tool,
                "credential": credential,
                "action": action,
                "description": "d",
                "approval": action == "pulls.merge",
                "argsSchema": {"type": "object", "properties": {"owner": {"type": "string"}}},
            }
        )

    toolbox = Toolbox.of(
        [
            info("github", "github", "issues.create"),
            info("github", "gh-ops", "issues.create"),
            info("github", "github", "pulls.merge"),
        ]
    )
    names = [f["function"]["name"] for f in toolbox.functions()]
    assert names == [
        "github__issues_create",
        "github__gh-ops__issues_create",
        "github__pulls_merge",
        "ask_human",
        "finish",
    ]
    assert toolbox.actions["github__gh-ops__issues_create"].credential == "gh-ops"
    merge = toolbox.functions()[2]["function"]
    assert "a person must approve" in merge["description"]
    assert merge["parameters"]["properties"] == {"owner": {"type": "string"}}


def test_the_default_agent_loads_without_reading_its_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBLIVION_AGENT_MAX_STEPS", "zero")
    agent = load_agent("oblivion_agent.default:agent")
    assert isinstance(agent, Agent)
    assert set(agent._handlers) == {
        FrameType.TASK_ASSIGNED,
        FrameType.CONTEXT_UPDATE,
        FrameType.TASK_CANCELLED,
    }
    with pytest.raises(ConfigurationError, match="OBLIVION_AGENT_MAX_STEPS"):
        load_default_settings()


def test_settings_come_from_the_variables_the_operator_sets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBLIVION_AGENT_NAME", "coder")
    monkeypatch.setenv("OBLIVION_AGENT_DISPLAY_NAME", "Coder Bot")
    monkeypatch.setenv("OBLIVION_AGENT_INSTRUCTIONS", "Be brief.")
    monkeypatch.setenv("OBLIVION_AGENT_MAX_STEPS", "7")
    settings = load_default_settings()
    assert (settings.instructions, settings.max_steps) == ("Be brief.", 7)
    assert settings.posting_names == {"coder", "Coder Bot"}
