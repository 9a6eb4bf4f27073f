"""The hash-pinned locks under requirements/ agree with pyproject.toml.

Every install (`make install`, `.ci/run`, the images) takes its packages from a lock with
`--require-hashes` and never resolves anew, so a dependency added to pyproject.toml and not locked
would be missing at run time, and one removed but still locked would ship for nothing. These tests
name the package and the profile, and the fix is always `make lock`.
"""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = canonicalize_name(PYPROJECT["project"]["name"])
EXTRAS: dict[str, list[str]] = PYPROJECT["project"]["optional-dependencies"]
PROFILES = [*EXTRAS, "build"]

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")


@dataclass
class Locked:
    name: str
    versions: list[Version] = field(default_factory=list)
    hashes: int = 0
    direct: bool = False


def parse_lock(path: Path) -> dict[str, Locked]:
    """Pins, their hash count and whether pyproject.toml asked for them (uv's `# via` notes)."""
    locked: dict[str, Locked] = {}
    current: Locked | None = None
    for line in path.read_text().splitlines():
        pin = _PIN.match(line)
        if pin:
            name = canonicalize_name(pin.group(1))
            current = locked.setdefault(name, Locked(name))
            current.versions.append(Version(pin.group(2)))
        elif current is not None and "--hash=sha256:" in line:
            current.hashes += 1
        elif current is not None and re.search(rf"#\s+(via\s+)?{PROJECT} \(pyproject\.toml\)", line):
            current.direct = True
    return locked


def wanted(profile: str) -> dict[str, Requirement]:
    """What pyproject.toml asks for in a profile: base dependencies, the extra, extras it includes."""
    if profile == "build":
        texts = list(PYPROJECT["build-system"]["requires"])
    else:
        texts, todo, seen = list(PYPROJECT["project"]["dependencies"]), [profile], set()
        while todo:
            extra = todo.pop()
            seen.add(extra)
            for text in EXTRAS[extra]:
                req = Requirement(text)
                if canonicalize_name(req.name) == PROJECT:
                    todo.extend(e for e in req.extras if e not in seen)
                else:
                    texts.append(text)
    return {canonicalize_name(Requirement(t).name): Requirement(t) for t in texts}


def lock_path(profile: str) -> Path:
    return ROOT / "requirements" / f"{profile}.txt"


def disagreements(profile: str, lock: Path) -> list[str]:
    """Each way pyproject.toml and a lock disagree, naming the package."""
    locked = parse_lock(lock)
    asked = wanted(profile)
    problems = []
    for name, req in asked.items():
        if name not in locked:
            problems.append(f"{req} is in pyproject.toml but not in {lock.name}")
        elif not any(req.specifier.contains(v, prereleases=True) for v in locked[name].versions):
            pins = ", ".join(str(v) for v in locked[name].versions)
            problems.append(f"{req} is in pyproject.toml but {lock.name} pins {name}=={pins}")
    for name in sorted(n for n, pin in locked.items() if pin.direct and n not in asked):
        problems.append(f"{lock.name} still locks {name}, which pyproject.toml no longer asks for")
    return problems


@pytest.mark.parametrize("profile", EXTRAS)
def test_every_extra_has_a_lock(profile: str) -> None:
    assert lock_path(profile).is_file(), f"extra {profile!r} has no requirements/{profile}.txt: `make lock`"


@pytest.mark.parametrize("profile", PROFILES)
def test_pyproject_and_the_lock_agree_on_every_direct_dependency(profile: str) -> None:
    problems = disagreements(profile, lock_path(profile))
    assert not problems, f"requirements/{profile}.txt: " + "; ".join(problems) + ": run `make lock`"


@pytest.mark.parametrize("profile", PROFILES)
def test_every_locked_package_carries_hashes_and_no_index_is_named(profile: str) -> None:
    text = lock_path(profile).read_text()
    locked = parse_lock(lock_path(profile))
    assert locked, f"requirements/{profile}.txt pins nothing"
    unhashed = sorted(name for name, pin in locked.items() if pin.hashes == 0)
    assert not unhashed, f"requirements/{profile}.txt has no hashes for {', '.join(unhashed)}"
    for option in ("--index-url", "--extra-index-url", "--find-links", "--trusted-host"):
        assert option not in text, f"requirements/{profile}.txt names an index ({option}); locks must not"


def test_a_package_added_to_one_side_only_is_named(tmp_path: Path) -> None:
    """The checker itself: a lock that lost a wanted pin, or keeps an unwanted one, names the package."""
    lines = lock_path("agent").read_text().splitlines(keepends=True)
    pin = next(i for i, line in enumerate(lines) if line.startswith("websockets=="))
    lines[pin] = lines[pin].replace("websockets==", "wsproto-ghost==", 1)
    (tmp_path / "agent.txt").write_text("".join(lines))
    problems = disagreements("agent", tmp_path / "agent.txt")
    assert any(p.startswith("websockets") and "not in agent.txt" in p for p in problems), problems
    assert any("still locks wsproto-ghost" in p for p in problems), problems


def test_make_sbom_lists_exactly_the_packages_an_image_lock_pins(tmp_path: Path) -> None:
    subprocess.run(
        ["make", "-s", "sbom", "SBOM_IMAGES=agent", f"SBOM_DIR={tmp_path}"], cwd=ROOT, check=True, timeout=300
    )
    bom = json.loads((tmp_path / "agent.cdx.json").read_text())
    assert bom["bomFormat"] == "CycloneDX"
    components = {(canonicalize_name(c["name"]), Version(c["version"])) for c in bom["components"]}
    pins = {(name, v) for name, pin in parse_lock(lock_path("agent")).items() for v in pin.versions}
    assert components == pins
