"""Conversations for ``memgpt.MemGPT`` (``LocalConversations``) and ``memgpt.Client``
(``ClientConversations``): the AgentService methods of ``memgpt.services.conversations``,
blocking. A conversation is a thread with an agent beside its default one: its own window,
summary and messages over the agent's core and archival memory. Methods taking a conversation
also take ``"default"`` with ``agent=`` (the agent's own thread)."""

from __future__ import annotations

from collections.abc import Coroutine
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote

from memgpt.core.schemas import Message, SendResult
from memgpt.memory.conversations import (
    ArchiveStatus,
    CompactResult,
    Conversation,
    OrderBy,
)

T = TypeVar("T")


def _q(part: str) -> str:
    return quote(part, safe="")


class LocalConversations:
    """Conversations on the local service (MemGPT mixes this in)."""

    service: Any

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        raise NotImplementedError

    def create_conversation(
        self, agent: str, *, description: str | None = None, model: str | None = None,
        context_window_limit: int | None = None, summary: str | None = None, hidden: bool = False,
    ) -> Conversation:
        """A new conversation with an agent, its window empty."""
        made: Conversation = self._run(self.service.create_conversation(
            agent, description=description, model=model, context_window_limit=context_window_limit,
            summary=summary, hidden=hidden))
        return made

    def get_conversation(self, conversation: str) -> Conversation:
        """One conversation."""
        found: Conversation = self._run(self.service.get_conversation(conversation))
        return found

    def list_conversations(
        self, *, agent: str | None = None, archive_status: ArchiveStatus = "unarchived",
        summary_search: str | None = None, order_by: OrderBy = "created_at", descending: bool = True,
        after: str | None = None, limit: int = 50,
    ) -> list[Conversation]:
        """Conversations (of one agent, if given), newest first by default."""
        found: list[Conversation] = self._run(self.service.list_conversations(
            agent=agent, archive_status=archive_status, summary_search=summary_search, order_by=order_by,
            descending=descending, after=after, limit=limit))
        return found

    def update_conversation(
        self, conversation: str, *, description: str | None = None, model: str | None = None,
        context_window_limit: int | None = None, archived: bool | None = None, summary: str | None = None,
        last_message_at: datetime | None = None,
    ) -> Conversation:
        """Change a conversation's settings (None: unchanged)."""
        changed: Conversation = self._run(self.service.update_conversation(
            conversation, description=description, model=model, context_window_limit=context_window_limit,
            archived=archived, summary=summary, last_message_at=last_message_at))
        return changed

    def delete_conversation(self, conversation: str) -> None:
        """Delete a conversation; its messages stay in the agent's recall."""
        self._run(self.service.delete_conversation(conversation))

    def fork_conversation(
        self, conversation: str, *, agent: str | None = None, message_id: str | None = None, hidden: bool = False,
    ) -> Conversation:
        """A new conversation starting with a copy of this one's window."""
        fork: Conversation = self._run(self.service.fork_conversation(
            conversation, agent=agent, message_id=message_id, hidden=hidden))
        return fork

    def send_conversation_message(
        self, conversation: str, text: str, *, agent: str | None = None, event: bool = False,
        max_steps: int | None = None,
    ) -> SendResult:
        """Send a message (or with ``event`` a system event) in a conversation."""
        result: SendResult = self._run(self.service.send_conversation_message(
            conversation, text, agent=agent, event=event, max_steps=max_steps))
        return result

    def conversation_messages(
        self, conversation: str, *, agent: str | None = None, limit: int = 50,
        before: int | None = None, after: int | None = None,
    ) -> list[Message]:
        """A conversation's messages in order; page with a message's ``seq``."""
        found: list[Message] = self._run(self.service.conversation_messages(
            conversation, agent=agent, limit=limit, before=before, after=after))
        return found

    def conversation_message(self, conversation: str, message_id: str, *, agent: str | None = None) -> Message:
        """One message of a conversation by id."""
        found: Message = self._run(self.service.conversation_message(conversation, message_id, agent=agent))
        return found

    def compact_conversation(self, conversation: str, *, agent: str | None = None) -> CompactResult:
        """Evict a conversation's window into its summary now."""
        done: CompactResult = self._run(self.service.compact_conversation(conversation, agent=agent))
        return done

    def recompile_conversation(self, conversation: str, *, agent: str | None = None, dry_run: bool = False) -> str:
        """Rebuild a conversation's system message from current memory; returns it."""
        text: str = self._run(self.service.recompile_conversation(conversation, agent=agent, dry_run=dry_run))
        return text

    def cancel_conversation(self, conversation: str, *, agent: str | None = None) -> dict[str, str]:
        """Cancel a conversation's active runs: their new status by run id."""
        done: dict[str, str] = self._run(self.service.cancel_conversation(conversation, agent=agent))
        return done


class ClientConversations:
    """Conversations over HTTP (Client mixes this in)."""

    def _get(self, kind: type[T] | Any, method: str, path: str, **kwargs: Any) -> T:
        raise NotImplementedError

    def _call(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None) -> Any:
        raise NotImplementedError

    def create_conversation(
        self, agent: str, *, description: str | None = None, model: str | None = None,
        context_window_limit: int | None = None, summary: str | None = None, hidden: bool = False,
    ) -> Conversation:
        """A new conversation with an agent, its window empty."""
        body = {"agent_id": agent, "description": description, "model": model,
                "context_window_limit": context_window_limit, "summary": summary, "hidden": hidden}
        return self._get(Conversation, "POST", "/conversations", json=body)

    def get_conversation(self, conversation: str) -> Conversation:
        """One conversation."""
        return self._get(Conversation, "GET", f"/conversations/{_q(conversation)}")

    def list_conversations(
        self, *, agent: str | None = None, archive_status: ArchiveStatus = "unarchived",
        summary_search: str | None = None, order_by: OrderBy = "created_at", descending: bool = True,
        after: str | None = None, limit: int = 50,
    ) -> list[Conversation]:
        """Conversations (of one agent, if given), newest first by default."""
        params = {"agent": agent, "archive_status": archive_status, "summary_search": summary_search,
                  "order_by": order_by, "descending": descending, "after": after, "limit": limit}
        return self._get(list[Conversation], "GET", "/conversations", params=params)

    def update_conversation(
        self, conversation: str, *, description: str | None = None, model: str | None = None,
        context_window_limit: int | None = None, archived: bool | None = None, summary: str | None = None,
        last_message_at: datetime | None = None,
    ) -> Conversation:
        """Change a conversation's settings (None: unchanged)."""
        body = {"description": description, "model": model, "context_window_limit": context_window_limit,
                "archived": archived, "summary": summary,
                "last_message_at": last_message_at.isoformat() if last_message_at else None}
        return self._get(Conversation, "PATCH", f"/conversations/{_q(conversation)}",
                         json={k: v for k, v in body.items() if v is not None})

    def delete_conversation(self, conversation: str) -> None:
        """Delete a conversation; its messages stay in the agent's recall."""
        self._call("DELETE", f"/conversations/{_q(conversation)}")

    def fork_conversation(
        self, conversation: str, *, agent: str | None = None, message_id: str | None = None, hidden: bool = False,
    ) -> Conversation:
        """A new conversation starting with a copy of this one's window."""
        return self._get(Conversation, "POST", f"/conversations/{_q(conversation)}/fork",
                         params={"agent": agent}, json={"message_id": message_id, "hidden": hidden})

    def send_conversation_message(
        self, conversation: str, text: str, *, agent: str | None = None, event: bool = False,
        max_steps: int | None = None,
    ) -> SendResult:
        """Send a message (or with ``event`` a system event) in a conversation."""
        return self._get(SendResult, "POST", f"/conversations/{_q(conversation)}/messages",
                         params={"agent": agent}, json={"text": text, "event": event, "max_steps": max_steps})

    def conversation_messages(
        self, conversation: str, *, agent: str | None = None, limit: int = 50,
        before: int | None = None, after: int | None = None,
    ) -> list[Message]:
        """A conversation's messages in order; page with a message's ``seq``."""
        params = {"agent": agent, "limit": limit, "before": before, "after": after}
        return self._get(list[Message], "GET", f"/conversations/{_q(conversation)}/messages", params=params)

    def conversation_message(self, conversation: str, message_id: str, *, agent: str | None = None) -> Message:
        """One message of a conversation by id."""
        return self._get(Message, "GET", f"/conversations/{_q(conversation)}/messages/{_q(message_id)}",
                         params={"agent": agent})

    def compact_conversation(self, conversation: str, *, agent: str | None = None) -> CompactResult:
        """Evict a conversation's window into its summary now."""
        return self._get(CompactResult, "POST", f"/conversations/{_q(conversation)}/compact", params={"agent": agent})

    def recompile_conversation(self, conversation: str, *, agent: str | None = None, dry_run: bool = False) -> str:
        """Rebuild a conversation's system message from current memory; returns it."""
        return self._get(str, "POST", f"/conversations/{_q(conversation)}/recompile",
                         params={"agent": agent, "dry_run": dry_run})

    def cancel_conversation(self, conversation: str, *, agent: str | None = None) -> dict[str, str]:
        """Cancel a conversation's active runs: their new status by run id."""
        return self._get(dict[str, str], "POST", f"/conversations/{_q(conversation)}/cancel", params={"agent": agent})
