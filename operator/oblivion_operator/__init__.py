"""The Oblivion operator: reconciles Workgroup, Project, Agent and ToolCredential resources."""

from __future__ import annotations

__all__: list[str] = []
