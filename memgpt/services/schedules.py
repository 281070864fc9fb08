"""Schedules (placeholder: filled in by its issue)."""

from __future__ import annotations

from memgpt.services.base import ServiceBase


class SchedulesApi(ServiceBase):
    """Schedules of the caller's agents."""
