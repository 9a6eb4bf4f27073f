"""``oblivion dev`` is safe by default: it listens on loopback only (its secrets are generated and it
has no TLS), and the file it writes those secrets to is ignored by git.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from tests.support.processes import oblivion_executable
from tests.support.servers import free_port

REPO_ROOT = Path(__file__).parents[2]
STARTUP_DEADLINE_SECONDS = 60.0


def listening_addresses(port: int) -> set[str]:
    """Addresses with a listening TCP socket on ``port``, from /proc/net/tcp and tcp6 (hex, as the
    kernel writes them: 0100007F is 127.0.0.1, 00000000 is 0.0.0.0)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if int(hex_port, 16) == port and fields[3] == "0A":  # 0A: TCP_LISTEN
                found.add(address)
    return found


def test_oblivion_dev_listens_on_loopback_only_by_default(
    nexus_env: dict[str, str], secret_registry: object
) -> None:
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="oblivion-dev-"))
    env = {k: v for k, v in nexus_env.items() if k != "OBLIVION_HOST"}
    env["OBLIVION_PORT"] = str(port)
    base = {k: v for k, v in os.environ.items() if not k.startswith("OBLIVION_")}
    log_path = workdir / "dev.log"
    secret_registry.add_log_file(log_path)  # type: ignore[attr-defined]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                oblivion_executable(),
                "dev",
                "--env-file",
                str(workdir / "dev.env"),
                "--qdrant-path",
                str(workdir / "q"),
            ],
            cwd=workdir,
            env={**base, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + STARTUP_DEADLINE_SECONDS
        while True:
            assert process.poll() is None, log_path.read_text()
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)  # polling interval of a wait with a deadline
        assert listening_addresses(port) == {"0100007F"}, listening_addresses(port)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def test_the_dev_secrets_file_is_ignored_by_git() -> None:
    for path in (".oblivion-dev.env", ".oblivion-dev/qdrant/collection"):
        checked = subprocess.run(
            ["git", "check-ignore", "--no-index", path], cwd=REPO_ROOT, capture_output=True
        )
        assert checked.returncode == 0, f"{path} is not ignored by .gitignore"
