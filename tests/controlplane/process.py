"""Start and stop the test control plane: the program built from this directory by ``make apiserver``.

The binary runs the real kube-apiserver with an embedded etcd and a trimmed kube-controller-manager
(see ``main.go``). When it is missing it is built once, under a file lock so that concurrent sessions
do not compile Kubernetes twice; a machine without Go gets a failure naming what to install.
"""

from __future__ import annotations

import contextlib
import fcntl
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
BINARY = REPO_ROOT / ".cache" / "controlplane" / "controlplane"  # where `make apiserver` puts it

# A start (etcd, then every post-start hook of the API server) takes about three seconds on two
# cores; the rest is headroom for a machine busy with other tests.
STARTUP_DEADLINE_SECONDS = 120.0
# A cold build compiles Kubernetes: CONTRIBUTING.md gives the time it takes on the CI machines.
BUILD_DEADLINE_SECONDS = 3600.0
_READY_LINE = re.compile(r"controlplane ready kubeconfig=(\S+)")


class ControlPlaneError(RuntimeError):
    """The control plane could not be built or started; the message says what to install or read."""


def ensure_binary() -> Path:
    """The control-plane binary, (re)built with ``make apiserver`` when missing or older than its
    sources (a no-op otherwise); a built binary is used as is on a machine without Go."""
    missing = [tool for tool in ("make", "go") if shutil.which(tool) is None]
    if missing:
        if BINARY.exists():
            return BINARY
        raise ControlPlaneError(
            f"the test control plane {BINARY} is not built and {' and '.join(missing)} "
            "is not installed: install Go 1.24 or newer (apt-get install golang-go, or "
            "https://go.dev/doc/install) and make, then run `make apiserver`."
        )
    lock_path = BINARY.parent / "build.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # concurrent sessions compile Kubernetes once
        result = subprocess.run(
            ["make", "--no-print-directory", "apiserver"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=BUILD_DEADLINE_SECONDS,
            check=False,
        )
    if result.returncode != 0:
        raise ControlPlaneError(
            f"`make apiserver` failed (exit {result.returncode}); it needs Go 1.24 or newer and "
            f"the Go module proxy:\n{(result.stdout + result.stderr)[-3000:]}"
        )
    return BINARY


@dataclass
class RunningControlPlane:
    """A started control plane: its admin kubeconfig, its data directory and its log."""

    kubeconfig_path: Path
    data_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes]


def _wait_ready(process: subprocess.Popen[bytes], log_path: Path) -> Path:
    deadline = time.monotonic() + STARTUP_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        found = _READY_LINE.search(log_path.read_text(errors="replace"))
        if found:
            return Path(found.group(1))
        if process.poll() is not None:
            raise ControlPlaneError(
                f"the control plane exited with {process.returncode} while starting; its log "
                f"({log_path}) ends with:\n{log_path.read_text(errors='replace')[-3000:]}"
            )
        time.sleep(0.1)  # polling the log for the ready line, bounded by the deadline above
    raise ControlPlaneError(
        f"the control plane did not report ready within {STARTUP_DEADLINE_SECONDS} s; see {log_path}"
    )


def stop(process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """SIGTERM (the API server shuts down gracefully, then etcd), SIGKILL after ``timeout``."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def control_plane(workdir: Path, *, apiserver_args: tuple[str, ...] = ()) -> Iterator[RunningControlPlane]:
    """Run the control plane with its data and log under ``workdir`` until the block exits."""
    binary = ensure_binary()
    data_dir = workdir / "controlplane"
    log_path = workdir / "controlplane.log"
    command = [str(binary), "--data-dir", str(data_dir)]
    if apiserver_args:
        command += ["--", *apiserver_args]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        kubeconfig = _wait_ready(process, log_path)
        yield RunningControlPlane(kubeconfig, data_dir, log_path, process)
    finally:
        stop(process)
