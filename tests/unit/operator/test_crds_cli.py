"""Reading the CRD files: `oblivion crds print|list`, the packaged wheel, and broken files.

The CLI tests run the real console script, as a user would, so they cover the composition in
``oblivion_cli`` too (`oblivion --help`, `oblivion version`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml

from oblivion_operator.crds import CRD_FILE_NAMES, CrdFilesError, load_crds, render_crd_stream
from tests.support.crd_schema import REPO_ROOT, crd_files

OBLIVION = Path(sys.executable).parent / "oblivion"


def test_a_missing_crd_file_is_reported_by_its_path(tmp_path: Path) -> None:
    for name in CRD_FILE_NAMES[:-1]:
        (tmp_path / name).write_bytes((REPO_ROOT / "crds" / name).read_bytes())
    with pytest.raises(CrdFilesError, match=f"{CRD_FILE_NAMES[-1]}: CRD file is missing"):
        render_crd_stream(tmp_path)


def test_a_crd_file_that_is_not_a_crd_is_reported_by_its_path(tmp_path: Path) -> None:
    for name in CRD_FILE_NAMES:
        (tmp_path / name).write_bytes((REPO_ROOT / "crds" / name).read_bytes())
    (tmp_path / CRD_FILE_NAMES[1]).write_text("kind: ConfigMap\n")
    with pytest.raises(CrdFilesError, match=f"{CRD_FILE_NAMES[1]}: not a CustomResourceDefinition"):
        load_crds(tmp_path)
    (tmp_path / CRD_FILE_NAMES[1]).write_text("spec: [unclosed\n")
    with pytest.raises(CrdFilesError, match=f"{CRD_FILE_NAMES[1]}: not valid YAML"):
        load_crds(tmp_path)


def run_oblivion(*args: str) -> subprocess.CompletedProcess[str]:
    if not OBLIVION.is_file():
        pytest.fail(
            f"{OBLIVION} is missing: install the project with `pip install -e '.[dev]'`", pytrace=False
        )
    return subprocess.run([str(OBLIVION), *args], capture_output=True, text=True, check=False, timeout=60)


def test_oblivion_crds_print_emits_the_crd_files_byte_for_byte() -> None:
    result = run_oblivion("crds", "print")
    assert result.returncode == 0, result.stderr
    files = [REPO_ROOT / "crds" / name for name in CRD_FILE_NAMES]
    assert result.stdout == "---\n".join(path.read_text() for path in files)
    documents = list(yaml.safe_load_all(result.stdout))
    assert [doc["spec"]["names"]["kind"] for doc in documents] == [
        "Workgroup",
        "Project",
        "Agent",
        "ToolCredential",
    ]


def test_oblivion_crds_list_names_every_crd_with_its_scope_and_short_name() -> None:
    result = run_oblivion("crds", "list")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "KIND", "SCOPE", "SHORT", "NAMES", "VERSIONS"]
    assert {line.split()[0]: line.split()[1:] for line in lines[1:]} == {
        "workgroups.oblivion.dev": ["Workgroup", "Cluster", "wg", "v1alpha1"],
        "projects.oblivion.dev": ["Project", "Namespaced", "proj", "v1alpha1"],
        "agents.oblivion.dev": ["Agent", "Namespaced", "agt", "v1alpha1"],
        "toolcredentials.oblivion.dev": ["ToolCredential", "Namespaced", "tc", "v1alpha1"],
    }


def test_oblivion_help_lists_the_subcommands() -> None:
    result = run_oblivion("--help")
    assert result.returncode == 0, result.stderr
    commands = result.stdout.split("Commands", 1)[1]
    rows = [line.replace("│", " ").replace("|", " ").split() for line in commands.splitlines()]
    listed = {row[0] for row in rows if row}
    assert {"version", "crds", "operator", "nexus", "agent", "trigger"} <= listed


def test_oblivion_version_prints_the_installed_version() -> None:
    result = run_oblivion("version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == version("oblivion")


def test_the_wheel_carries_the_crds_and_the_installed_package_reads_them(tmp_path: Path) -> None:
    build = subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(tmp_path / "dist")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr
    [wheel] = (tmp_path / "dist").glob("oblivion-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        for path in crd_files():
            assert archive.read(f"oblivion_operator/crds/{path.name}") == path.read_bytes()
        archive.extractall(tmp_path / "site")
    # The unpacked wheel comes first on the path, so the installed copy is what gets read.
    listing = subprocess.run(
        [sys.executable, "-c", "from oblivion_operator.crds import crd_directory; print(crd_directory())"],
        env={**os.environ, "PYTHONPATH": str(tmp_path / "site")},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.strip() == str(tmp_path / "site" / "oblivion_operator" / "crds")
