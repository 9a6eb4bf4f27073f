"""The summary model's answer: the assistant's text of an OpenAI chat completion, or nothing."""

from __future__ import annotations

import re
from typing import Any

import pytest

from oblivion_nexus.services.llm.summaries import SUMMARY_AGENT, answer_text
from oblivion_nexus.services.registry.schemas import NAME_PATTERN


def test_the_answer_is_the_first_choices_text_trimmed() -> None:
    answer = {"choices": [{"index": 0, "message": {"role": "assistant", "content": " The gist. \n"}}]}
    assert answer_text(answer) == "The gist."


@pytest.mark.parametrize(
    "answer",
    [
        {},
        {"choices": []},
        {"choices": [{"message": {"role": "assistant", "content": None, "refusal": "no"}}]},
        {"choices": [{"message": {"role": "assistant", "content": "   "}}]},
        {"choices": ["text"]},
    ],
)
def test_an_answer_without_text_is_empty(answer: dict[str, Any]) -> None:
    assert answer_text(answer) == ""


def test_the_pseudo_agent_of_summary_usage_cannot_be_an_agents_name() -> None:
    assert re.match(NAME_PATTERN, SUMMARY_AGENT) is None
