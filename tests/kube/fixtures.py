"""pytest plugin: the `kube_api` fixture, a fresh Kubernetes API emulator per test.

Registered from `tests/conftest.py` (`pytest_plugins`). Starting one takes a few milliseconds, so every
test gets its own cluster and no state leaks between tests.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import pytest

from tests.kube.api import KubeApi, serve_kube_api


@pytest.fixture
def kube_api(tmp_path: pathlib.Path) -> Iterator[KubeApi]:
    """A running emulator with the default namespaces; `.url`, `.kubeconfig_path`, direct object access."""
    with serve_kube_api(tmp_path) as api:
        yield api
