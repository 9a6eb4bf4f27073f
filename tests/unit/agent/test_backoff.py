from __future__ import annotations

import random
import statistics

import pytest

from oblivion_agent._backoff import Backoff


def test_each_delay_stays_within_a_doubling_window_capped_at_the_maximum() -> None:
    backoff = Backoff(base=0.5, cap=30.0, rng=random.Random(1))
    windows = []
    for _ in range(20):
        window = backoff.bound()
        delay = backoff.next_delay()
        assert 0.0 <= delay <= window
        windows.append(window)
    assert windows[:7] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0]
    assert set(windows[6:]) == {30.0}


def test_delays_are_spread_uniformly_over_the_whole_window() -> None:
    # Full jitter: reconnecting agents must not bunch up near the top of the window.
    rng = random.Random(7)
    samples = []
    for _ in range(20_000):
        backoff = Backoff(base=0.5, cap=30.0, rng=rng)
        backoff.attempt = 4  # window 8 s
        samples.append(backoff.next_delay())
    assert min(samples) < 0.1
    assert max(samples) > 7.9
    assert statistics.mean(samples) == pytest.approx(4.0, abs=0.1)
    quartiles = statistics.quantiles(samples, n=4)
    assert quartiles == pytest.approx([2.0, 4.0, 6.0], abs=0.15)


def test_reset_starts_again_from_the_base_window() -> None:
    backoff = Backoff(base=0.5, cap=30.0, rng=random.Random(3))
    for _ in range(10):
        backoff.next_delay()
    backoff.reset()
    assert backoff.bound() == 0.5
    assert backoff.next_delay() <= 0.5


def test_thousands_of_attempts_never_overflow() -> None:
    backoff = Backoff(base=0.5, cap=30.0, rng=random.Random(5))
    backoff.attempt = 5000
    assert 0.0 <= backoff.next_delay() <= 30.0


@pytest.mark.parametrize(("base", "cap"), [(0.0, 1.0), (2.0, 1.0), (-1.0, 5.0)])
def test_bounds_that_make_no_sense_are_refused(base: float, cap: float) -> None:
    with pytest.raises(ValueError, match="base"):
        Backoff(base=base, cap=cap)
