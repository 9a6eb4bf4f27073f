"""The documentation must match the code: the generated configuration reference, the MkDocs site, and
every link, repository path and CRD field the pages name."""

from __future__ import annotations

import functools
import glob
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import markdown
import pytest
import yaml
from pydantic import BaseModel
from scripts.config_reference import COMPONENTS, TARGET, render, variables


def test_the_configuration_reference_matches_the_settings_classes() -> None:
    assert TARGET.read_text() == render(), f"{TARGET.name} is out of date: run `make docs-config`"


@pytest.mark.parametrize(("title", "settings"), [(title, settings) for title, settings, _ in COMPONENTS])
def test_every_setting_says_what_it_is_for(title: str, settings: type[BaseModel]) -> None:
    undocumented = [name for name, field in variables(settings) if not (field.description or "").strip()]
    assert not undocumented, f"{title} settings without a description: {', '.join(undocumented)}"


def test_every_variable_appears_once_with_its_default() -> None:
    text = render()
    assert text.count("| `OBLIVION_DATABASE_URL` | str | **required** |") == 1
    assert "| `OBLIVION_PORT` | int | `8080` |" in text
    assert "| `OBLIVION_ADMIN_TOKEN` | secret | **required** |" in text


# --- the documentation site and the pages that must not drift from the tree ---------------------

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted(DOCS.glob("*.md"))]
README_MAX_LINES = 250
# Folders that builds and tools create; the docs may name paths inside them.
GENERATED = {".cache", "build", "dist", ".venv", ".oblivion", ".oblivion-dev"}
# Named in the docs but shipped by installed packages, not this repository.
NOT_OURS = {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"}
FILE_SUFFIX = re.compile(r"\.(py|pyi|go|ya?ml|json|md|sh|toml|txt|mk|tpl|cfg|Dockerfile)$")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
CODE = re.compile(r"`([^`\n]+)`")


def prose(page: Path) -> str:
    """The page without its fenced code blocks (commands and examples are not links or claims)."""
    return FENCE.sub("", page.read_text())


def anchors(page: Path) -> set[str]:
    """The ids MkDocs gives the page's headings (its toc extension, `{#id}` from attr_list)."""
    html = markdown.markdown(
        page.read_text(), extensions=["toc", "attr_list", "tables", "admonition", "pymdownx.superfences"]
    )
    return set(re.findall(r'\bid="([^"]+)"', html))


@functools.cache
def repository_file_names() -> frozenset[str]:
    """Names of the files in the working tree, outside generated and tool folders."""
    skip = GENERATED | {".git", "__pycache__", "node_modules", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
    names: set[str] = set()
    for _folder, subfolders, files in os.walk(ROOT):
        subfolders[:] = [d for d in subfolders if d not in skip]
        names.update(files)
    return frozenset(names)


def test_the_site_builds_with_mkdocs_strict(tmp_path: Path) -> None:
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=120,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    assert (tmp_path / "site" / "architecture" / "index.html").is_file()


def test_every_docs_page_is_in_the_navigation() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    listed = set(re.findall(r"[\w-]+\.md", str(config["nav"])))
    assert listed == {page.name for page in DOCS.glob("*.md")}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    broken = []
    for target in LINK.findall(prose(page)):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        linked = (page.parent / file_part).resolve() if file_part else page
        if not linked.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target} (no heading #{anchor} in {linked.name})")
    assert not broken, f"{page.name}: " + "; ".join(broken)


def named_paths(page: Path) -> list[str]:
    """Inline-code spans of the page that name a file or folder of the repository."""
    top_level = {p.name for p in ROOT.iterdir()}
    found = []
    for span in CODE.findall(prose(page)):
        span = span.strip()
        if re.search(r"[\s<>{}…$:=|@,()\[\]]", span) or span.startswith(("/", "-", "~")):
            continue
        if "/" not in span:
            if FILE_SUFFIX.search(span) and "*" not in span and span not in NOT_OURS:
                found.append(span)
            continue
        first = span.split("/")[0]
        if first in GENERATED:
            continue
        if first == ".." or first in top_level or FILE_SUFFIX.search(span.rstrip("/")):
            found.append(span)
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_repository_path_the_page_names_exists(page: Path) -> None:
    basenames = repository_file_names()
    missing = []
    for span in named_paths(page):
        if "/" not in span:
            if span not in basenames:
                missing.append(span)
        elif span.startswith("../") and not (ROOT / "/".join(span.split("/")[:2])).is_dir():
            continue  # beside the repository (../shared/): checked where a checkout has it
        elif "*" in span:
            if not glob.glob(str(ROOT / span)):
                missing.append(span)
        elif not (ROOT / span).exists():
            missing.append(span)
    assert not missing, f"{page.name} names paths that do not exist: {', '.join(sorted(set(missing)))}"


def crd_fields(schema: dict[str, Any], path: str = "") -> list[str]:
    fields = []
    for name, sub in (schema.get("properties") or {}).items():
        fields.append(f"{path}.{name}" if path else name)
        fields += crd_fields(sub, fields[-1])
    if "items" in schema:
        fields += crd_fields(schema["items"], f"{path}[]")
    return fields


@pytest.mark.parametrize("crd", sorted((ROOT / "crds").glob("*.yaml")), ids=lambda p: p.name)
def test_every_field_of_the_crd_is_documented(crd: Path) -> None:
    definition = yaml.safe_load(crd.read_text())
    kind = definition["spec"]["names"]["kind"]
    sections = re.split(r"^## ", (DOCS / "custom-resources.md").read_text(), flags=re.M)
    section = next((s for s in sections if s.startswith(f"{kind}\n")), None)
    assert section is not None, f"docs/custom-resources.md has no section '## {kind}'"
    documented = set(CODE.findall(section))
    schema = definition["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    fields = [
        f
        for f in crd_fields(schema)
        if f.startswith(("spec.", "status.")) and not f.startswith("status.conditions[]")
    ]
    missing = [f for f in fields if f not in documented]
    assert not missing, f"{kind} fields missing from docs/custom-resources.md: {', '.join(missing)}"


def test_the_readme_stays_an_introduction() -> None:
    lines = (ROOT / "README.md").read_text().count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move reference material into docs/"
