"""The Oblivion agent SDK and runtime."""

from __future__ import annotations

__all__: list[str] = []
