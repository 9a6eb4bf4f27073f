"""The test tree stays as CONTRIBUTING describes it: tests import shared helpers from ``tests/support``
(or the fakes), never from a ``conftest.py``; ``tests/unit/`` mirrors the source tree, so the tests of a
module are found at the same path under ``tests/unit/``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Top folder of tests/unit → the source folder it mirrors; files directly in tests/unit test the
# repository as a whole (docs, locks, examples).
MIRRORED = {
    "nexus": "nexus/oblivion_nexus",
    "operator": "operator/oblivion_operator",
    "agent": "agent-runtime/oblivion_agent",
    "cli": "cli/oblivion_cli",
    "settings": "common/oblivion_settings",
    "chart": "charts/oblivion",
    "argocd": "deploy/argocd",
    "scripts": "scripts",
}


def conftest_imports(root: Path, folders: tuple[str, ...] = ("tests", "bench")) -> list[str]:
    """``path:line module`` of every import of a conftest module in the Python files under ``folders``."""
    found = []
    for folder in folders:
        for path in sorted((root / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.ImportFrom):
                    module = "." * node.level + (node.module or "")
                    modules = [module] + [f"{module}.{alias.name}" for alias in node.names]
                elif isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                else:
                    continue
                if any(m.split(".")[-1] == "conftest" for m in modules):
                    found.append(f"{path.relative_to(root)}:{node.lineno} {modules[0]}")
    return found


def unmirrored_unit_folders(root: Path) -> list[str]:
    """Folders under ``tests/unit`` holding test files whose path has no counterpart in the sources."""
    unit = root / "tests" / "unit"
    wrong = []
    for test_file in sorted(unit.rglob("test_*.py")):
        parts = test_file.parent.relative_to(unit).parts
        if not parts:
            continue
        source = MIRRORED.get(parts[0])
        if source is None or not (root / source).joinpath(*parts[1:]).is_dir():
            wrong.append(str(test_file.relative_to(root)))
    return wrong


def test_no_test_or_helper_imports_from_a_conftest() -> None:
    assert conftest_imports(ROOT) == [], "move what tests import to tests/support/ (conftests keep fixtures)"


def test_every_unit_test_sits_where_its_source_is() -> None:
    assert unmirrored_unit_folders(ROOT) == [], f"tests/unit/ mirrors the sources: {MIRRORED}"


@pytest.mark.parametrize(
    "line",
    [
        "from tests.integration.flow.conftest import FlowStack",
        "from tests.integration.flow import conftest",
        "import tests.unit.agent.conftest",
        "from .conftest import helper",
    ],
)
def test_an_import_from_a_conftest_is_found(tmp_path: Path, line: str) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text(f"{line}\n")
    assert conftest_imports(tmp_path, ("tests",)) == [f"tests/test_x.py:1 {line.split()[1]}"]


def test_an_import_from_a_support_module_is_not_flagged(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text("from tests.support.waiting import eventually\n")
    assert conftest_imports(tmp_path, ("tests",)) == []


def test_a_unit_test_in_a_folder_the_sources_lack_is_found(tmp_path: Path) -> None:
    (tmp_path / "nexus" / "oblivion_nexus" / "services" / "gateway").mkdir(parents=True)
    for folder in ("nexus/services/gateway", "nexus/services/flow", "gateway"):
        (tmp_path / "tests" / "unit" / folder).mkdir(parents=True)
        (tmp_path / "tests" / "unit" / folder / "test_x.py").write_text("")
    (tmp_path / "tests" / "unit" / "test_repo_wide.py").write_text("")
    assert unmirrored_unit_folders(tmp_path) == [
        "tests/unit/gateway/test_x.py",
        "tests/unit/nexus/services/flow/test_x.py",
    ]
