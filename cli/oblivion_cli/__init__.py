"""The ``oblivion`` command line: one entry point composing the components' own sub-commands.

It lives in its own package because the operator, Nexus and the agent SDK must never import each
other; only this composition root knows all three.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("oblivion")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
