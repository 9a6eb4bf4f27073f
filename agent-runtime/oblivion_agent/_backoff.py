"""Reconnect delays: exponential backoff with full jitter.

When Nexus restarts, every agent loses its connection at the same moment. Full jitter (a delay drawn
uniformly from ``[0, min(cap, base * 2**attempt)]``) spreads their reconnects over the whole window
instead of sending them back in synchronised waves.
"""

from __future__ import annotations

import random


class Backoff:
    def __init__(self, base: float, cap: float, rng: random.Random | None = None) -> None:
        if base <= 0 or cap < base:
            raise ValueError(f"need 0 < base <= cap, got base={base}, cap={cap}")
        self.base = base
        self.cap = cap
        self.attempt = 0
        self._rng = rng or random.Random()  # jitter, not cryptography

    def bound(self) -> float:
        """The upper bound of the next delay."""
        # min() before the power would overflow after ~1000 attempts; clamp the exponent instead.
        return min(self.cap, self.base * 2.0 ** min(self.attempt, 64))

    def next_delay(self) -> float:
        """A delay for the next attempt; each call widens the window until the cap."""
        delay = self._rng.uniform(0, self.bound())
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0
