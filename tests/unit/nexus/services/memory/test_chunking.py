"""Long texts are cut into overlapping chunks that keep the original text and cover all of it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oblivion_nexus.services.memory.chunking import chunk_text


def test_a_short_message_is_one_chunk_with_its_line_breaks_kept() -> None:
    text = "Deploy failed:\n  ERR_CONN_RESET at step 3"
    assert chunk_text(text) == [text]


def test_blank_text_has_no_chunks() -> None:
    assert chunk_text("   \n\t ") == []


def test_long_text_chunks_overlap_by_the_given_number_of_words() -> None:
    words = [f"w{i}" for i in range(25)]
    chunks = chunk_text(" ".join(words), max_words=10, overlap_words=3)
    assert [c.split() for c in chunks] == [words[0:10], words[7:17], words[14:24], words[21:25]]


def test_a_text_that_fits_exactly_is_not_followed_by_a_chunk_of_overlap_only() -> None:
    words = [f"w{i}" for i in range(10)]
    assert chunk_text(" ".join(words), max_words=10, overlap_words=3) == [" ".join(words)]


@pytest.mark.parametrize(("max_words", "overlap"), [(0, 0), (5, 5), (5, -1)])
def test_impossible_chunk_sizes_are_refused(max_words: int, overlap: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        chunk_text("a b c", max_words=max_words, overlap_words=overlap)


@given(
    words=st.lists(st.text(alphabet="abcXYZ_-1", min_size=1, max_size=6), max_size=200),
    max_words=st.integers(min_value=2, max_value=40),
    data=st.data(),
)
def test_every_word_is_in_some_chunk_and_no_chunk_is_too_long(
    words: list[str], max_words: int, data: st.DataObject
) -> None:
    overlap = data.draw(st.integers(min_value=0, max_value=max_words - 1))
    chunks = chunk_text(" ".join(words), max_words=max_words, overlap_words=overlap)
    assert all(len(c.split()) <= max_words for c in chunks)
    covered = [w for i, c in enumerate(chunks) for w in c.split()[(overlap if i else 0) :]]
    assert covered == words
