"""Runs (placeholder: filled in by its issue)."""

from __future__ import annotations

from memgpt.services.base import ServiceBase


class RunsApi(ServiceBase):
    """Runs of the caller's agents."""
