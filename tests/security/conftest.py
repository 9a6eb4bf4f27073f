"""Fixtures of the security suite: real Nexus replicas as the gateway tests start them."""

from __future__ import annotations

from tests.integration.gateway.conftest import hub_resources, nexus, nexus_factory

__all__ = ["hub_resources", "nexus", "nexus_factory"]
