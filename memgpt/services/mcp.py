"""Mcp (placeholder: filled in by its issue)."""

from __future__ import annotations

from memgpt.services.base import ServiceBase


class McpApi(ServiceBase):
    """Mcp of the caller's agents."""
