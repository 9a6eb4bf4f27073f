"""Finding agent aliases in ClickUp text and user mentions in Slack messages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oblivion_nexus.services.taskflow.mention_parsing import (
    AliasMatcher,
    InvalidAlias,
    normalise_alias,
    slack_block_user_mentions,
    slack_text_user_mentions,
    slack_user_mentions,
)

MATCHER = AliasMatcher(["ai-backend", "ai", "qa_bot", "ops.helper", "Triage"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@ai-backend please fix the login", ["ai-backend"]),
        ("please fix, @AI-Backend", ["ai-backend"]),
        ("ask @ai-backend.", ["ai-backend"]),
        ("ask @ai-backend... then @qa_bot!", ["ai-backend", "qa_bot"]),
        ("(@ops.helper) and @triage, and @ai-backend's plan", ["ops.helper", "Triage", "ai-backend"]),
        ("@ai and @ai-backend and @ai again", ["ai", "ai-backend"]),
        ("line one\n@qa_bot\tline two", ["qa_bot"]),
    ],
)
def test_aliases_are_found_in_order_without_repeats(text: str, expected: list[str]) -> None:
    assert MATCHER.find(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "mail ops@ai-backend.io about it",
        "@ai-backend-v2 is a different agent",
        "@ai_backend is not registered",
        "@ops.helperbot is longer",
        "@ops.helper.v2 is longer",
        "ai-backend without an at sign",
        "@@ai-backend doubled",
        "x@ai",
        "",
    ],
)
def test_text_that_only_resembles_an_alias_matches_nothing(text: str) -> None:
    assert MATCHER.find(text) == []


def test_name_and_description_are_searched_together() -> None:
    assert MATCHER.find("Login broken @qa_bot", None, "details for @ai-backend") == ["qa_bot", "ai-backend"]


@pytest.mark.parametrize("alias", ["", "@", "has space", "-leading", "emoji🙂"])
def test_an_alias_that_could_never_be_written_is_refused(alias: str) -> None:
    with pytest.raises(InvalidAlias):
        normalise_alias(alias)


def test_a_bad_alias_in_the_registry_does_not_hide_the_others(caplog: pytest.LogCaptureFixture) -> None:
    matcher = AliasMatcher(["has space", "qa_bot"])

    assert matcher.find("@qa_bot and @has") == ["qa_bot"]
    assert "has space" in caplog.text


def test_an_alias_ending_with_a_dot_is_found_and_a_sentence_dot_is_not_part_of_others() -> None:
    matcher = AliasMatcher(["bot.", "bot"])

    assert matcher.find("ask @bot. now") == ["bot."]
    assert AliasMatcher(["bot"]).find("ask @bot.") == ["bot"]


def test_aliases_are_compared_without_at_sign_and_case() -> None:
    assert normalise_alias("@AI-Backend") == "ai-backend"
    assert AliasMatcher(["@Backend-Bot"]).find("hey @backend-bot") == ["Backend-Bot"]


def test_hundreds_of_aliases_still_match_exactly() -> None:
    matcher = AliasMatcher([f"agent-{n}" for n in range(500)])
    text = " ".join(f"@agent-{n}" for n in range(0, 500, 7)) + " @agent-5000 mail@agent-1"
    assert matcher.find(text) == [f"agent-{n}" for n in range(0, 500, 7)]
    assert len(matcher) == 500


_alias = st.from_regex(r"[a-z][a-z0-9_\-]{0,10}(\.[a-z0-9]{1,4})?", fullmatch=True)


@settings(deadline=None)  # a loaded CI machine must not turn slowness into a failure
@given(
    alias=_alias,
    before=st.sampled_from(["", " ", "\n", "(", "hi "]),
    after=st.sampled_from(["", " ", ".", ",", "!", ")", "'s"]),
)
def test_an_alias_written_between_separators_is_always_found(alias: str, before: str, after: str) -> None:
    assert AliasMatcher([alias]).find(f"{before}@{alias}{after}") == [alias]


@settings(deadline=None)  # a loaded CI machine must not turn slowness into a failure
@given(text=st.text(max_size=300))
def test_any_text_is_scanned_without_error(text: str) -> None:
    found = MATCHER.find(text)
    assert all(f"@{alias.casefold()}" in text.casefold() for alias in found)


def test_slack_text_mentions_are_read_from_the_fixture(fixture_json: Callable[[str], Any]) -> None:
    message = fixture_json("slack/mentions/message_with_user_mention.json")
    assert slack_text_user_mentions(message["text"]) == ["U0LAN0Z89"]
    assert slack_block_user_mentions(message["blocks"]) == ["U0LAN0Z89"]
    assert slack_user_mentions(message["text"], message["blocks"]) == ["U0LAN0Z89"]


def test_slack_mentions_with_labels_and_several_users() -> None:
    text = "<@U0LAN0Z89|bot> and <@W123ABC> and <#C123|general> and <@U0LAN0Z89>"
    assert slack_text_user_mentions(text) == ["U0LAN0Z89", "W123ABC"]


@settings(deadline=None)  # a loaded CI machine must not turn slowness into a failure
@given(
    blocks=st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10)),
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(
                st.sampled_from(["type", "user_id", "elements", "blocks", "text"]), children, max_size=4
            ),
        ),
        max_leaves=30,
    )
)
def test_any_block_structure_is_walked_without_error(blocks: Any) -> None:
    assert all(isinstance(user, str) for user in slack_block_user_mentions(blocks))
