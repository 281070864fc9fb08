"""Archives (placeholder: filled in by its issue)."""

from __future__ import annotations

from memgpt.services.base import ServiceBase


class ArchivesApi(ServiceBase):
    """Archives of the caller's agents."""
