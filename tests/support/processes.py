"""Child processes of the tests: the ``oblivion`` command run once, or a component (Nexus, a worker,
an agent, a fake) kept running, each in its own process group with its output in a log file.

A child in its own process group lets ``kill -9`` take it and whatever it started. A child is
started with exactly the ``OBLIVION_*`` variables a test gives, so the developer's own environment
never leaks into a test.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tests.support.waiting import eventually

if TYPE_CHECKING:  # a pytest plugin: the benchmarks using Proc need not import pytest
    from tests.secret_logs import SecretRegistry

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 30.0  # a Python process importing FastAPI and SQLAlchemy starts in 1-3 s on a slow box
STOP_SECONDS = 15.0


def oblivion_executable() -> str:
    """The ``oblivion`` console script of the virtual environment running the tests."""
    path = Path(sys.executable).parent / "oblivion"
    if not path.exists():
        raise RuntimeError(f"{path} is missing: install the project with `.venv/bin/pip install -e '.[dev]'`")
    return str(path)


def clean_environ(env: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without its ``OBLIVION_*`` variables, plus ``env``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("OBLIVION_")}
    return {**base, **env}


def run_oblivion(*args: str, env: Mapping[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``oblivion <args>`` with exactly the ``OBLIVION_*`` variables given (plus PATH and HOME)."""
    return subprocess.run(
        [oblivion_executable(), *args],
        env=clean_environ(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class Proc:
    """One child process in its own process group, its output in a log file under ``log_dir``.

    It can be watched by a wait (:func:`tests.support.waiting.eventually`): a wait on something the
    child should do fails at once, with the child's output, when the child has died.
    """

    def __init__(self, name: str, argv: Sequence[str], env: Mapping[str, str], log_dir: Path) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.log_path = log_dir / f"{name}-{uuid.uuid4().hex[:6]}.log"
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        with self.log_path.open("wb") as log:
            self.popen = subprocess.Popen(
                self.argv,
                cwd=REPO_ROOT,
                env=clean_environ(self.env),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: signals reach its children too
            )
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None, f"{self.name} was never started"
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def exit_report(self) -> str:
        return f"{self.name} exited with {self.returncode}:\n{self.output(4000)}"

    def signal(self, signum: int) -> None:
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signum)

    def kill(self) -> None:
        """``kill -9`` of the process group, then reap it."""
        self.signal(signal.SIGKILL)
        if self.popen is not None:
            self.popen.wait(STOP_SECONDS)

    def stop(self, timeout: float = STOP_SECONDS) -> int | None:
        """SIGTERM, then SIGKILL if it has not exited within ``timeout``; returns the exit code."""
        if self.popen is None:
            return None
        if self.alive:
            self.signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                logger.warning("%s ignored SIGTERM for %.0f s; killing it", self.name, timeout)
                self.kill()
        return self.popen.poll()

    async def terminate(self, timeout: float = STOP_SECONDS) -> int | None:
        """SIGTERM, and wait up to ``timeout`` for the exit while the test's event loop keeps running
        (a Nexus serving in that loop must answer the child's goodbye); returns the exit code."""
        self.signal(signal.SIGTERM)
        await eventually(
            lambda: not self.alive,
            timeout=timeout,
            what=f"{self.name} to exit on SIGTERM",
            context=lambda: self.output(4000),
        )
        return self.returncode

    def output(self, tail: int | None = None) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return text if tail is None else text[-tail:]


@contextlib.asynccontextmanager
async def agent_process(
    target: str, env: Mapping[str, str], secrets: SecretRegistry, *options: str
) -> AsyncIterator[Proc]:
    """``oblivion agent run <target> <options>`` as an agent's pod runs it, with exactly the
    ``OBLIVION_*`` variables in ``env``; its log joins the run's secret check. Killed on the way out
    if the block has not stopped it (:meth:`Proc.terminate` checks a clean shutdown)."""
    proc = Proc(
        "agent", [oblivion_executable(), "agent", "run", target, *options], env, Path(tempfile.gettempdir())
    )
    secrets.add_log_file(proc.log_path)
    proc.start()
    try:
        yield proc
    finally:
        if proc.alive:
            proc.kill()
