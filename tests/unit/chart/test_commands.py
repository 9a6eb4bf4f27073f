"""Every command the chart starts in an Oblivion image exists in the `oblivion` CLI with those options."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.chart import CHART, objects_of, render_chart

OBLIVION = Path(sys.executable).parent / "oblivion"


def _oblivion_commands() -> dict[str, list[str]]:
    """container name → args, for containers whose entrypoint is `oblivion` (args, no command)."""
    objs: list[dict[str, Any]] = objects_of(render_chart())
    objs += objects_of(render_chart(CHART / "ci" / "production-external-values.yaml"))
    found = {}
    for obj in objs:
        if obj["kind"] not in {"Deployment", "Job"}:
            continue
        for container in obj["spec"]["template"]["spec"]["containers"]:
            if "args" in container and "command" not in container:
                found[f"{obj['metadata']['name'].split('-')[-1]}/{container['name']}"] = container["args"]
    return found


COMMANDS = _oblivion_commands()


def test_the_chart_starts_nexus_the_worker_the_operator_and_migrations() -> None:
    assert sorted(COMMANDS) == ["migrations/migrate", "nexus/nexus", "operator/operator", "worker/worker"]


@pytest.mark.parametrize("container", sorted(COMMANDS))
def test_the_command_exists_with_the_options_the_chart_passes(container: str) -> None:
    assert shutil.which(str(OBLIVION)), f"{OBLIVION} is missing: pip install -e '.[dev]'"
    result = subprocess.run(
        [str(OBLIVION), *COMMANDS[container], "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"oblivion {' '.join(COMMANDS[container])}:\n{result.stderr}"
