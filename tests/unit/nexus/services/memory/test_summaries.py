"""Thread summaries: extractive ones (the opening message, then the sentences about what the thread
keeps coming back to, in the order they were written, within the size limit), and which of the two
kinds a summary point is, named in its author."""

from __future__ import annotations

from oblivion_nexus.services.memory.extractive import extractive_summary
from oblivion_nexus.services.memory.model_summaries import ModelSummary, ThreadMessage
from oblivion_nexus.services.memory.summaries import EXTRACTIVE_AUTHOR, summary_of, summary_source_id


def test_the_summary_opens_with_the_question_and_keeps_what_the_thread_is_about() -> None:
    thread = [("Ana", "Checkout fails for customers paying with saved cards.")]
    thread += [("Bo", f"Lunch order number {n} is pizza again, nothing else to report.") for n in range(3)]
    thread += [
        ("Cy", "The saved cards fail because the card vault token expired."),
        ("Ana", "Rotating the card vault token fixed checkout for saved cards."),
    ]
    summary = extractive_summary(thread, max_chars=300)
    assert summary.startswith("Extractive summary of a thread of 6 messages: Ana: Checkout fails")
    assert "card vault token" in summary
    assert len(summary) <= 300
    assert summary.index("Cy:") < summary.index("Rotating")  # in the order they were written


def test_a_thread_without_words_has_no_summary_and_each_thread_has_one_point() -> None:
    assert extractive_summary([("Ana", "ok"), ("Bo", ":+1:")]) == ""
    assert summary_source_id("T1", "C1", "1.2") == summary_source_id("T1", "C1", "1.2")
    assert summary_source_id("T1", "C1", "1.2") != summary_source_id("T1", "C1", "1.3")


THREAD = [
    ThreadMessage("Ana", "Checkout fails for customers paying with saved cards.", 1.0),
    ThreadMessage("Cy", "The saved cards fail because the card vault token expired.", 2.0),
]


def test_a_model_summary_names_its_model_as_author_and_covers_the_thread() -> None:
    assert summary_of(
        THREAD, ModelSummary("The vault token expired; rotating it fixed checkout.", "gpt-4o-mini")
    ) == (
        "Summary of a thread of 2 messages: The vault token expired; rotating it fixed checkout.",
        "Oblivion (summary by gpt-4o-mini)",
    )


def test_without_a_model_summary_the_summary_is_extractive_and_says_so() -> None:
    summary = summary_of(THREAD, None)
    assert summary is not None
    text, author = summary
    assert author == EXTRACTIVE_AUTHOR == "Oblivion (extractive summary)"
    assert text.startswith("Extractive summary of a thread of 2 messages: Ana: Checkout fails")
    assert summary_of([ThreadMessage("Ana", "ok", 1.0)], None) is None
