"""The extractive summary of a thread (no model needed): its opening message, then the sentences
that carry the thread's most frequent content words, in the order they were written, each with its
author, up to ``MAX_SUMMARY_CHARS``. Its text says it is an extractive summary and how many
messages it covers.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

# About two chunks' worth: enough for the gist of a long thread, short enough to embed as one.
MAX_SUMMARY_CHARS = 1200
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]?")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_'-]{3,}")
# Words too common in any conversation to say what this one is about.
_STOPWORDS = frozenset(
    {
        *("that", "this", "with", "have", "from", "they", "will", "what", "when", "would", "there"),
        *("their", "about", "which", "could", "should", "been", "were", "then", "than", "them", "just"),
        *("also", "into", "your", "some", "like", "more", "only", "very", "here", "does", "done", "said"),
    }
)
# A sentence sharing more than this share of its words with one already chosen says nothing new.
_REDUNDANT = 0.7
# How much a word of the opening message (the thread's subject) counts over any other word.
_TOPIC_WEIGHT = 2.0


def _words(text: str) -> list[str]:
    return [w for w in (m.lower() for m in _WORD.findall(text)) if w not in _STOPWORDS]


def extractive_summary(messages: Sequence[tuple[str, str]], *, max_chars: int = MAX_SUMMARY_CHARS) -> str:
    """The summary of ``messages`` ((author, text), oldest first); empty when they hold no text."""
    sentences: list[tuple[int, str, str]] = []  # (position, author, sentence)
    for author, text in messages:
        for match in _SENTENCE.finditer(text):
            sentence = match.group().strip()
            if len(_words(sentence)) >= 2:
                sentences.append((len(sentences), author, sentence))
    if not sentences:
        return ""
    frequency = Counter(w for _, _, s in sentences for w in set(_words(s)))
    topic = set(_words(sentences[0][2]))

    def weight(item: tuple[int, str, str]) -> float:
        words = _words(item[2])
        on_topic = len(topic.intersection(words)) * _TOPIC_WEIGHT
        return (sum(frequency[w] for w in words) + on_topic * max(frequency.values())) / math.sqrt(len(words))

    def redundant(item: tuple[int, str, str], chosen: list[tuple[int, str, str]]) -> bool:
        words = set(_words(item[2]))
        return any(len(words & set(_words(c[2]))) > _REDUNDANT * len(words) for c in chosen)

    header = f"Extractive summary of a thread of {len(messages)} messages: "
    budget = max_chars - len(header)
    chosen = [sentences[0]]  # the opening sentence says what the thread is about
    used = len(sentences[0][1]) + len(sentences[0][2]) + 3
    for item in sorted(sentences[1:], key=weight, reverse=True):
        cost = len(item[1]) + len(item[2]) + 3
        if used + cost > budget or redundant(item, chosen):
            continue
        chosen.append(item)
        used += cost
    chosen.sort()
    return header + " ".join(f"{author}: {sentence}" for _, author, sentence in chosen)[:budget]
