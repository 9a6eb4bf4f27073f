"""The tests' one wait (``tests.support.waiting``): it returns what the check found, fails naming what
it waited for, and gives up at once when what it depends on died."""

from __future__ import annotations

import time

import pytest

from tests.support.waiting import WaitTimeout, eventually, eventually_sync


class _Dead:
    alive = False

    def exit_report(self) -> str:
        return "worker exited with 1: Traceback …"


async def test_eventually_returns_the_first_truthy_answer_of_a_sync_or_async_check() -> None:
    answers = iter([None, [], ["root message"]])
    assert await eventually(lambda: next(answers), what="a root message") == ["root message"]

    async def ready() -> str:
        return "ready"

    assert await eventually(ready, what="readiness") == "ready"


async def test_a_wait_that_times_out_names_what_it_awaited_the_last_answer_and_the_context() -> None:
    with pytest.raises(WaitTimeout) as failure:
        await eventually(lambda: [], timeout=0.1, what="two replies", context=lambda: "log tail")
    assert str(failure.value) == "timed out after 0.1 s waiting for two replies (last value: [])\nlog tail"


def test_a_wait_gives_up_at_once_when_a_watched_dependency_died() -> None:
    started = time.monotonic()
    with pytest.raises(WaitTimeout, match="gave up waiting for the queue drained: worker exited with 1"):
        eventually_sync(lambda: False, timeout=30, what="the queue drained", watch=[_Dead()])
    assert time.monotonic() - started < 5
