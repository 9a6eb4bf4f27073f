"""The fake Slack and ClickUp as pytest fixtures, one of each per test, for every suite (the root
conftest registers this module as a plugin)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.clickup import FakeClickUp
from tests.fakes.slack import FakeSlack


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    with FakeSlack() as slack:
        yield slack


@pytest.fixture
def fake_clickup() -> Iterator[FakeClickUp]:
    with FakeClickUp() as clickup:
        yield clickup
