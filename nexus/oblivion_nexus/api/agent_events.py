"""Routes: agent_events (placeholder until implemented)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
