"""Routes: registry (placeholder until implemented)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
