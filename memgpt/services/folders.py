"""Folders (placeholder: filled in by its issue)."""

from __future__ import annotations

from memgpt.services.base import ServiceBase


class FoldersApi(ServiceBase):
    """Folders of the caller's agents."""
