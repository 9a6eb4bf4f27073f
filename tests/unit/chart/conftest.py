"""Fixtures of the chart tests: every scenario of charts/oblivion/ci rendered once
(``tests.support.chart``)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.chart import CHART, SCENARIOS, objects_of, render_chart


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict[str, Any]]]:
    """The objects rendered for each scenario of charts/oblivion/ci, by scenario name."""
    return {name: objects_of(render_chart(CHART / "ci" / f"{name}-values.yaml")) for name in SCENARIOS}
