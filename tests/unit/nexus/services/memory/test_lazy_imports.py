"""Importing Nexus does not load the local model's runtime: only a process that embeds pays for it."""

from __future__ import annotations

import subprocess
import sys

_PROBE = (
    "import sys, oblivion_nexus.app, oblivion_nexus.worker, oblivion_nexus.services.memory.setup; "
    "print(sorted(m for m in ('onnxruntime', 'tokenizers', 'numpy') if m in sys.modules))"
)


def test_importing_the_api_the_worker_and_the_memory_bank_loads_no_onnx_runtime() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.strip() == "[]"
