"""Conversations (placeholder: filled in by its issue)."""

from __future__ import annotations

from memgpt.services.base import ServiceBase


class ConversationsApi(ServiceBase):
    """Conversations of the caller's agents."""
