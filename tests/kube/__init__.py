"""A Kubernetes API emulator for tests (built on KMock) and the helpers to run kopf against it.

Public surface: `KubeApi` (what the `kube_api` fixture yields), `serve_kube_api` (the same outside
pytest, e.g. in benchmarks), `run_operator` (kopf in its own thread against the emulator) and
`ApiError` (the emulator's refusals).
"""

from __future__ import annotations

from tests.kube.api import KubeApi, WaitTimeout, serve_kube_api
from tests.kube.errors import ApiError, EmulatorError
from tests.kube.operator_runner import OperatorRun, run_operator

__all__ = [
    "ApiError",
    "EmulatorError",
    "KubeApi",
    "OperatorRun",
    "WaitTimeout",
    "run_operator",
    "serve_kube_api",
]
