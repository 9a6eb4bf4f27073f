"""The one base error of Nexus, so callers can catch everything Nexus raises on purpose.

Third-party errors are wrapped (``raise SomeNexusError(...) from e``) where they cross a layer.
"""

from __future__ import annotations


class NexusError(Exception):
    """Base of every error Nexus raises deliberately."""
