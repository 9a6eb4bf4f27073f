"""Access to the shared vendor fixtures (../shared/fixtures), the payload shapes every parser must read."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

_DEFAULT = Path(__file__).resolve().parents[3] / ".." / "shared" / "fixtures"
FIXTURES = Path(os.environ.get("OBLIVION_SHARED_FIXTURES", str(_DEFAULT))).resolve()


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    if not (FIXTURES / "README.md").is_file():
        pytest.fail(
            f"the shared Slack/ClickUp fixtures are not at {FIXTURES}; check out ../shared next to the "
            "repository or point OBLIVION_SHARED_FIXTURES at them",
            pytrace=False,
        )
    return FIXTURES


@pytest.fixture(scope="session")
def fixture_bytes(fixtures_dir: Path) -> Callable[[str], bytes]:
    def read(relative: str) -> bytes:
        return (fixtures_dir / relative).read_bytes()

    return read


@pytest.fixture(scope="session")
def fixture_json(fixture_bytes: Callable[[str], bytes]) -> Callable[[str], Any]:
    def load(relative: str) -> Any:
        return json.loads(fixture_bytes(relative))

    return load
