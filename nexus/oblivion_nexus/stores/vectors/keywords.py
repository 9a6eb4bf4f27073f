"""The keyword signal of hybrid search: text to a sparse BM25-style vector Qdrant can index.

Dense embeddings find paraphrases but blur exact identifiers (``ERR_CONN_RESET``, ``PROJ-1234``,
``parse_invoice_total``); a sparse vector of the text's terms finds them. A term's index is a stable
hash (the same in every process and release, unlike Python's ``hash``), a document's value is BM25's
saturated term frequency, and the inverse document frequency comes from Qdrant itself (the sparse
vector's ``IDF`` modifier), computed over the collection at query time.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass

# BM25's usual constants (Robertson & Zaragoza): k1 how fast repeated terms saturate, b how much a
# long text is discounted.
_K1 = 1.2
_B = 0.75
# Average length in terms of what the Memory Bank stores: chat messages and comments, a few dozen
# words; chunks are at most ~180 words (see the chunker).
_AVG_TERMS = 40.0
# Identifiers keep their inner punctuation: error codes, ticket keys, dotted names, versions, paths.
_TOKEN = re.compile(r"[^\W_](?:[\w.\-/:#]*[^\W_])?|_+[^\W_][\w]*", re.UNICODE)
_PARTS = re.compile(r"[^\W_]+", re.UNICODE)
_CAMEL = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
# Words that carry no meaning in a question; IDF would weigh them down anyway, dropping them keeps
# the index small and the query vector short.
_STOPWORDS = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "did",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "how",
        "i",
        "if",
        "in",
        "is",
        "it",
        "its",
        "me",
        "my",
        "of",
        "on",
        "or",
        "our",
        "so",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
    }
)
_MAX_TERM_CHARS = 64


@dataclass(frozen=True, slots=True)
class SparseVector:
    indices: tuple[int, ...]
    values: tuple[float, ...]


def term_index(term: str) -> int:
    """A term's sparse index: 32 bits of BLAKE2b (Qdrant's sparse indices are unsigned 32-bit)."""
    return int.from_bytes(hashlib.blake2b(term.encode(), digest_size=4).digest(), "big")


def terms(text: str) -> list[str]:
    """The terms of ``text``: whole identifiers, lowercased, plus their parts (snake, kebab, camel)."""
    out: list[str] = []
    for match in _TOKEN.finditer(unicodedata.normalize("NFKC", text)):
        token = match.group().strip("_.-/:#")
        if not token or len(token) > _MAX_TERM_CHARS:
            continue
        whole = token.lower()
        if whole not in _STOPWORDS:
            out.append(whole)
        parts = [p for raw in _PARTS.findall(token) for p in _CAMEL.findall(raw) or [raw]]
        if len(parts) > 1:
            out.extend(p.lower() for p in parts if len(p) > 1 and p.lower() not in _STOPWORDS)
    return out


def _vector(weights: dict[int, float]) -> SparseVector:
    ordered = sorted(weights.items())
    return SparseVector(tuple(i for i, _ in ordered), tuple(v for _, v in ordered))


def document_vector(text: str) -> SparseVector:
    """A stored text's sparse vector: BM25 term-frequency weights (IDF is applied by Qdrant)."""
    found = terms(text)
    norm = _K1 * (1 - _B + _B * len(found) / _AVG_TERMS)
    weights: dict[int, float] = {}
    for term, tf in Counter(found).items():
        index = term_index(term)
        weights[index] = weights.get(index, 0.0) + tf * (_K1 + 1) / (tf + norm)
    return _vector(weights)


def query_vector(text: str) -> SparseVector:
    """A question's sparse vector: each distinct term once, so the score is the sum of its IDF·TF."""
    return _vector({term_index(term): 1.0 for term in set(terms(text))})
