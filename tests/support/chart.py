"""charts/oblivion rendered with the real helm binary (from ``tests/tools/k8s_binaries``), and the
scenarios of ``charts/oblivion/ci`` the chart tests render."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tests.tools.k8s_binaries import helm_path

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "oblivion"
SCENARIOS = sorted(p.name.removesuffix("-values.yaml") for p in (CHART / "ci").glob("*-values.yaml"))

Render = Callable[..., list[dict[str, Any]]]


def run_helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(helm_path()), *args], capture_output=True, text=True, timeout=120, check=False)


def render_chart(*values_files: Path, sets: tuple[str, ...] = (), show_only: str | None = None) -> str:
    """`helm template` the chart as release `obl` in namespace `oblivion`; fail with helm's message."""
    args = ["template", "obl", str(CHART), "--namespace", "oblivion"]
    for f in values_files:
        args += ["--values", str(f)]
    for s in sets:
        args += ["--set", s]
    if show_only:
        args += ["--show-only", show_only]
    result = run_helm(*args)
    if result.returncode != 0:
        raise AssertionError(f"helm template failed:\n{result.stderr}")
    return result.stdout


def objects_of(manifest: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(manifest) if doc]
