"""Remembers handled event ids, so a redelivered event is acked again but not handled twice.

Delivery is at-least-once: after a reconnect Nexus redelivers every event it has not seen acked,
including ones whose ack was lost with the old connection. A bounded LRU keeps memory flat in a
long-running agent; the bound only has to outlast the redelivery window.
"""

from __future__ import annotations

from collections import OrderedDict


class SeenEvents:
    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, event_id: str) -> None:
        """Remember an id, forgetting the least recently seen one when full."""
        self._ids[event_id] = None
        self._ids.move_to_end(event_id)
        while len(self._ids) > self.capacity:
            self._ids.popitem(last=False)

    def seen(self, event_id: str) -> bool:
        """Whether the id was handled; a hit refreshes it, since duplicates come in bursts."""
        if event_id in self._ids:
            self._ids.move_to_end(event_id)
            return True
        return False
