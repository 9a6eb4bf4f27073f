"""Nexus, the Oblivion hub: webhooks, durable queue, agent gateway, registry."""

from __future__ import annotations

__all__: list[str] = []
