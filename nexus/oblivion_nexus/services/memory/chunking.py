"""Long texts become overlapping chunks, each embedded and stored as its own point.

The local model reads at most 256 word pieces; English averages about 1.3 pieces a word, so 180
words stay inside that with room for identifiers, which split into many pieces. The overlap keeps a
sentence that straddles a boundary whole in at least one chunk. Chunks are slices of the original
text (line breaks and code kept), cut between words.
"""

from __future__ import annotations

import re

MAX_WORDS = 180
OVERLAP_WORDS = 30
_WORD = re.compile(r"\S+")


def chunk_text(text: str, *, max_words: int = MAX_WORDS, overlap_words: int = OVERLAP_WORDS) -> list[str]:
    """``text`` cut into chunks of at most ``max_words`` words, consecutive chunks sharing
    ``overlap_words``; an empty or blank text has no chunks."""
    if max_words < 1:
        raise ValueError("max_words must be at least 1")
    if not 0 <= overlap_words < max_words:
        raise ValueError("overlap_words must be at least 0 and less than max_words")
    spans = [m.span() for m in _WORD.finditer(text)]
    if not spans:
        return []
    step = max_words - overlap_words
    chunks = []
    for start in range(0, len(spans), step):
        window = spans[start : start + max_words]
        chunks.append(text[window[0][0] : window[-1][1]])
        if start + max_words >= len(spans):
            break
    return chunks
