"""Which replies stop a task's agents: a stop word as the whole reply, after mentions, before ! or ."""

from __future__ import annotations

import pytest

from oblivion_nexus.services.taskflow.context import is_stop_word

WORDS = "stop, Cancel"


@pytest.mark.parametrize(
    "text", ["stop", "Stop!", "  cancel. ", "@ai-backend stop", "@ai-backend, @ops: STOP!!"]
)
def test_a_stop_word_as_the_whole_reply_stops(text: str) -> None:
    assert is_stop_word(text, WORDS)


@pytest.mark.parametrize(
    "text", ["please stop using the old cookie", "stop?", "don't stop", "@ai-backend", "", "halt"]
)
def test_anything_else_is_an_ordinary_reply(text: str) -> None:
    assert not is_stop_word(text, WORDS)


def test_no_stop_words_means_nothing_stops() -> None:
    assert not is_stop_word("stop", "")
