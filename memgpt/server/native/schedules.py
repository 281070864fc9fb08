"""memgpt's own schedules routes under /memgpt/v1 (placeholder: filled in by its issue)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/memgpt/v1", tags=["memgpt"])
