"""A Memory Bank search or deletion scope: which projects, and optionally which task, kinds and time.

Both stores turn it into the same Qdrant filter, evaluated server-side; a scope without projects is
refused, so no search ever runs unfiltered across tenants.
"""

from __future__ import annotations

from dataclasses import dataclass

from oblivion_nexus.stores.vectors.errors import UnscopedSearch
from oblivion_nexus.stores.vectors.points import MemoryKind

# Sizes of the candidate lists each signal contributes before fusion: enough for rank fusion to
# reorder (several times the answer), small enough to stay a few milliseconds at 100k points.
PREFETCH_FACTOR = 4
MIN_PREFETCH = 20
# Reciprocal rank fusion's k: 60 is the value of the original paper (Cormack et al., 2009); a
# large k keeps a single first place in one list from outweighing agreement between both lists.
RRF_K = 60


@dataclass(frozen=True, slots=True)
class MemoryScope:
    projects: tuple[str, ...]
    task_id: str | None = None
    kinds: tuple[MemoryKind, ...] = ()
    since: float | None = None
    until: float | None = None

    def __post_init__(self) -> None:
        if not self.projects or any(not p for p in self.projects):
            raise UnscopedSearch("a Memory Bank scope names at least one project")
        if self.since is not None and self.until is not None and self.since > self.until:
            raise ValueError("since is after until")


def prefetch_limit(limit: int) -> int:
    return max(limit * PREFETCH_FACTOR, MIN_PREFETCH)
