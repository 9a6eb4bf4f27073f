"""The Dockerfiles the chart's images come from: pinned, multi-stage, non-root, lean final stage.

No Docker engine runs where the unit tests run, so these read the Dockerfiles; the Kind end-to-end
test builds and runs them for real.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.support.chart import REPO

DOCKERFILES = sorted((REPO / "docker").glob("*.Dockerfile"))


def _final_stage(text: str) -> str:
    return re.split(r"^FROM ", text, flags=re.MULTILINE)[-1]


def test_there_is_a_dockerfile_per_image() -> None:
    assert [p.name for p in DOCKERFILES] == [
        "agent-runtime.Dockerfile",
        "nexus.Dockerfile",
        "operator.Dockerfile",
    ]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_the_base_image_is_pinned_to_an_exact_version(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, flags=re.MULTILINE)
    assert base, "the base image is not set once in ARG PYTHON_IMAGE"
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base[1]), base[1]
    assert all(line.split()[1].startswith("${PYTHON_IMAGE}") for line in re.findall(r"^FROM .*$", text, re.M))


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_the_wheel_is_built_in_a_builder_stage_and_only_its_virtualenv_is_kept(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    assert "AS builder" in text
    assert "pip wheel" in text
    final = _final_stage(text)
    assert "COPY --from=builder /opt/oblivion /opt/oblivion" in final
    for build_tool in ("gcc", "build-essential", "pip install", "pip wheel", "apt-get install", "COPY . "):
        assert build_tool not in final, f"{build_tool!r} in the final stage"


IMAGE_LOCKS = {
    "agent-runtime.Dockerfile": "agent-langgraph",
    "nexus.Dockerfile": "nexus",
    "operator.Dockerfile": "operator",
}


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_every_package_comes_from_the_image_lock_with_hashes_checked(dockerfile: Path) -> None:
    text = re.sub(r"\\\n\s*", " ", dockerfile.read_text())
    lock = IMAGE_LOCKS[dockerfile.name]
    assert (REPO / "requirements" / f"{lock}.txt").is_file()
    installs = re.findall(r"pip install [^&\n]*", text)
    assert installs, "no pip install"
    for install in installs:
        from_lock = "--require-hashes --no-deps -r requirements/" in install
        own_wheel = "--no-deps /dist/oblivion-" in install
        assert from_lock or own_wheel, f"{install!r} resolves packages outside the lock"
    assert f"--require-hashes --no-deps -r requirements/{lock}.txt" in text
    assert "--require-hashes --no-deps -r requirements/build.txt" in text
    assert "pip wheel --no-deps --no-build-isolation" in text


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_the_image_runs_as_a_numeric_non_root_user(dockerfile: Path) -> None:
    users = re.findall(r"^USER (\S+)$", _final_stage(dockerfile.read_text()), flags=re.M)
    assert users, "no USER in the final stage"
    uid = users[-1].split(":")[0]
    assert uid.isdigit(), f"USER {users[-1]} is not numeric (runAsNonRoot cannot verify names)"
    assert int(uid) != 0


def test_server_images_have_a_healthcheck() -> None:
    for name in ("nexus.Dockerfile", "operator.Dockerfile"):
        assert "HEALTHCHECK" in _final_stage((REPO / "docker" / name).read_text()), name


def test_the_agent_entrypoint_takes_the_module_from_arguments_or_the_environment_else_the_default_agent(
    tmp_path: Path,
) -> None:
    script = REPO / "docker" / "agent-entrypoint.sh"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "oblivion"  # records how it was called instead of running an agent
    fake.write_text('#!/bin/sh\necho "oblivion $*"\n')
    fake.chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}

    def run(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["sh", str(script), *args], env={**env, **extra}, capture_output=True, text=True, check=False
        )

    assert run("pkg.mod:agent").stdout.strip() == "oblivion agent run pkg.mod:agent"
    assert run(OBLIVION_AGENT_MODULE="team.bot:agent").stdout.strip() == "oblivion agent run team.bot:agent"
    assert run().stdout.strip() == "oblivion agent run oblivion_agent.default:agent"


def test_the_build_context_keeps_out_everything_but_the_sources() -> None:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    assert lines[[line.strip() for line in lines].index("*")] == "*"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert {
        "pyproject.toml",
        "requirements",
        "README.md",
        "crds",
        "common",
        "operator",
        "nexus",
        "agent-runtime",
        "cli",
    } <= allowed
    assert not {".git", ".venv", "tests", ".cache"} & allowed


def test_the_cli_of_an_image_without_other_components_dependencies_still_starts() -> None:
    """The operator image installs only the `operator` extra: no websockets, FastAPI or SQLAlchemy."""
    import sys

    script = (
        "import sys\n"
        "for missing in ('websockets', 'fastapi', 'sqlalchemy', 'uvicorn'):\n"
        "    sys.modules[missing] = None  # what an image without that extra has\n"
        "from oblivion_cli.main import main\n"
        "sys.argv = ['oblivion', 'operator', '--standalone', '--help']\n"
        "main()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "--liveness" in result.stdout
