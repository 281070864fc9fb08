"""Conversations: several threads with one agent, each with its own window, summary and
messages, all over the agent's core memory blocks and archival memory.

A conversation is a loop position and a message filter, not a second loop: a send runs the
same turn as the default thread (``MessagesApi._send``, a run like any other) with the
conversation's position loaded (``ServiceBase.runtime``). Turns of one agent, in any thread,
are serialized by the agent's lease, so a tool's block edit in one conversation is committed
before the next request of any other, which recompiles its system message (its blocks no
longer match). ``conversation_search`` searches the agent's whole recall, every thread
included (the archival rule too: memory beyond the window is the agent's).

Everything that takes a conversation id also takes ``"default"`` with an agent (Letta's
agent-direct mode): the agent's default thread, whose position is the agent's own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from memgpt.core.errors import ContextOverflowError, InvalidRequestError, NotFoundError
from memgpt.core.events import Listener
from memgpt.core.schemas import AgentState, Message, Role, SendResult, new_id, utcnow
from memgpt.llm.tokens import count_messages
from memgpt.memory.conversations import (
    ArchiveStatus,
    CompactResult,
    Conversation,
    ConversationStore,
    OrderBy,
)
from memgpt.memory.runs import ACTIVE, RunQuery
from memgpt.runtime.agent import AgentRuntime
from memgpt.services.base import ServiceBase
from memgpt.services.messages import MessagesApi
from memgpt.services.runs import RunsApi

DEFAULT = "default"


class Thread(BaseModel):
    """An agent's thread: a conversation, or (``conversation`` None) its default thread."""

    agent: AgentState
    conversation: Conversation | None = None


class ConversationsApi(ServiceBase):
    """Conversations of the caller's agents."""

    @property
    def conversation_store(self) -> ConversationStore:
        """Where conversations are stored."""
        return self.kernel.storage.conversations

    async def _thread(self, conversation: str, agent: str | None = None) -> Thread:
        """A thread by conversation id, or ``"default"`` (or an agent id) with an agent."""
        if conversation == DEFAULT or conversation.startswith("agent-"):
            target = agent if conversation == DEFAULT else conversation
            if not target:
                raise InvalidRequestError('conversation "default" needs agent_id')
            return Thread(agent=await self.get_agent(target))
        found = await self.conversation_store.get(self.owner, conversation)
        return Thread(agent=await self.get_agent(found.agent_id), conversation=found)

    # --- the conversations themselves ---------------------------------------------------------
    async def create_conversation(
        self, agent: str, *, description: str | None = None, model: str | None = None,
        context_window_limit: int | None = None, summary: str | None = None, hidden: bool = False,
    ) -> Conversation:
        """A new conversation with one of the caller's agents, its window empty."""
        state = await self.get_agent(agent)
        if model:
            self.kernel.check_model(model)
        made = Conversation(agent_id=state.id, owner=self.owner, description=description, model=model or None,
                            context_window_limit=context_window_limit, summary=summary or "", hidden=hidden)
        return await self.conversation_store.create(made)

    async def get_conversation(self, conversation: str) -> Conversation:
        """One of the caller's conversations."""
        return await self.conversation_store.get(self.owner, conversation)

    async def list_conversations(
        self, *, agent: str | None = None, archive_status: ArchiveStatus = "unarchived",
        summary_search: str | None = None, order_by: OrderBy = "created_at", descending: bool = True,
        after: str | None = None, limit: int = 50,
    ) -> list[Conversation]:
        """The caller's listed conversations (of one agent, if given)."""
        agent_id = (await self.get_agent(agent)).id if agent else None
        return await self.conversation_store.all(
            self.owner, agent_id=agent_id, archive_status=archive_status, summary_search=summary_search,
            order_by=order_by, descending=descending, after=after, limit=limit,
        )

    async def update_conversation(
        self, conversation: str, *, description: str | None = None, model: str | None = None,
        context_window_limit: int | None = None, archived: bool | None = None, summary: str | None = None,
        last_message_at: datetime | None = None,
    ) -> Conversation:
        """Change a conversation's settings (None: unchanged; "" clears the description, the
        model override or the summary, 0 the window override). A new summary is its loop
        position, so the change waits for a turn in progress (the agent's lease) like a step."""
        given = {"description": description, "model": model, "context_window_limit": context_window_limit,
                 "archived": archived, "summary": summary, "last_message_at": last_message_at}
        changes: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
        if model:
            self.kernel.check_model(model)
        for key in ("description", "model", "context_window_limit"):
            if key in changes and not changes[key]:
                changes[key] = None
        if context_window_limit and context_window_limit < 512:
            raise InvalidRequestError("context_window_limit must be at least 512 tokens")
        if archived is not None:
            changes["archived_at"] = utcnow() if archived else None
        found = await self.conversation_store.get(self.owner, conversation)
        async with self.kernel.lock(found.agent_id):
            return await self.conversation_store.update(self.owner, conversation, changes)

    async def delete_conversation(self, conversation: str) -> None:
        """Delete a conversation (between turns); its messages stay in the agent's recall."""
        found = await self.conversation_store.get(self.owner, conversation)
        async with self.kernel.lock(found.agent_id):
            await self.conversation_store.delete(self.owner, conversation)

    async def fork_conversation(
        self, conversation: str, *, agent: str | None = None, message_id: str | None = None,
        hidden: bool = False,
    ) -> Conversation:
        """A new conversation of the same agent whose window is a copy of this thread's (up to
        and including ``message_id``, if given), with its summary; its system message is
        compiled from memory as it is now at its first turn."""
        thread = await self._thread(conversation, agent)
        source = thread.conversation
        async with self.kernel.lock(thread.agent.id) as lease:
            runtime = await self.runtime(lease, source)
            window = list(runtime.context)
        if message_id is not None:
            ids = [m.id for m in window]
            if message_id not in ids:
                raise NotFoundError(f"message {message_id!r} is not in the conversation's window")
            window = window[: ids.index(message_id) + 1]
        copies = [m.model_copy(update={"id": new_id("message")}) for m in window]
        fork = Conversation(
            agent_id=thread.agent.id, owner=self.owner, hidden=hidden, summary=runtime.state.summary,
            description=source.description if source else None, model=source.model if source else None,
            context_window_limit=source.context_window_limit if source else None,
        )
        return await self.conversation_store.fork(fork, copies)

    # --- messages ----------------------------------------------------------------------------------
    async def send_conversation_message(
        self, conversation: str, text: str, *, agent: str | None = None, event: bool = False,
        on_event: Listener | None = None, max_steps: int | None = None,
    ) -> SendResult:
        """Send a user message (or a system event) in a thread: one turn of the agent, whose
        model request holds this thread's window and the agent's current memory (at most
        ``max_steps`` steps, never above ``MEMGPT_MAX_CHAIN_STEPS``)."""
        if not text.strip():
            raise InvalidRequestError("message text is empty")
        thread = await self._thread(conversation, agent)
        message = Message.event(text) if event else Message.user(text)
        messages = self._messages_api()
        result = await messages._send(thread.agent.id, message, on_event, conversation=thread.conversation,
                                      max_steps=max_steps)
        self.kernel.embed_later(thread.agent.id)
        return result

    def _messages_api(self) -> MessagesApi:
        """This service as the messages API (ConversationsApi is always part of AgentService)."""
        assert isinstance(self, MessagesApi), "ConversationsApi runs as part of AgentService"
        return self

    def _runs_api(self) -> RunsApi:
        """This service as the runs API (ConversationsApi is always part of AgentService)."""
        assert isinstance(self, RunsApi), "ConversationsApi runs as part of AgentService"
        return self

    async def conversation_messages(
        self, conversation: str, *, agent: str | None = None, limit: int = 50,
        before: int | None = None, after: int | None = None,
    ) -> list[Message]:
        """A thread's messages (all of its recall) in order; page with a message's seq."""
        thread = await self._thread(conversation, agent)
        conv = thread.conversation.id if thread.conversation else None
        return await self.conversation_store.messages(thread.agent.id, conv, limit=limit, before=before, after=after)

    async def conversation_message(self, conversation: str, message_id: str, *, agent: str | None = None) -> Message:
        """One message of a thread by id."""
        thread = await self._thread(conversation, agent)
        conv = thread.conversation.id if thread.conversation else None
        return await self.conversation_store.message(thread.agent.id, conv, message_id)

    # --- window control ----------------------------------------------------------------------------
    @asynccontextmanager
    async def _holding_thread(self, thread: Thread, *, write: bool = True) -> AsyncIterator[AgentRuntime]:
        """The thread's runtime under the agent's lease; with ``write`` its changes are
        committed as one unit when the block ends (and the lease given back by it)."""
        kernel = self.kernel
        async with kernel.lock(thread.agent.id) as lease:
            runtime = await self.runtime(lease, thread.conversation)
            try:
                yield runtime
                if write:
                    await runtime.commit(last=True)
            except BaseException:
                kernel.forget(thread.agent.id)
                raise
            finally:
                lease.released = runtime.released
            if write:
                self.keep(runtime)

    async def compact_conversation(self, conversation: str, *, agent: str | None = None) -> CompactResult:
        """Evict the thread's window into its summary now: everything before the newest input
        (or, if that exchange is most of the window, at least half its tokens, cut where a
        tool call keeps its result)."""
        async with self._holding_thread(await self._thread(conversation, agent)) as runtime:
            before = len(runtime.context)
            starts = [n for n, m in enumerate(runtime.context) if m.role in (Role.USER, Role.EVENT)]
            if starts and starts[-1] > 0:  # evict up to the newest input (at least half the tokens)
                try:
                    await runtime.evict(count_messages(runtime.context[: starts[-1]]))
                except ContextOverflowError:  # one exchange: nothing can go
                    pass
            if len(runtime.context) == before:
                raise InvalidRequestError(
                    "nothing to compact: the window holds a single exchange (or nothing)")
            await runtime.system_message()
        return CompactResult(num_messages_before=before + 1, num_messages_after=len(runtime.context) + 1,
                             summary=runtime.state.summary)

    async def recompile_conversation(
        self, conversation: str, *, agent: str | None = None, dry_run: bool = False,
    ) -> str:
        """Rebuild the thread's system message from current memory (``dry_run``: only show it)."""
        thread = await self._thread(conversation, agent)
        async with self._holding_thread(thread, write=not dry_run) as runtime:
            runtime.state.memory_dirty = True
            await runtime.system_message()
        return runtime.state.system_compiled

    async def _thread_runs(self, thread: Thread, *, active: bool, limit: int = 50) -> list[str]:
        """Ids of the thread's runs, newest first (only active ones, or any of the latest
        ``limit``). A run belongs to the thread its input was stored in."""
        conv = thread.conversation.id if thread.conversation else None
        statuses = [str(s) for s in ACTIVE] if active else None
        found = await self._runs_api()._find_runs(RunQuery(agent_ids=[thread.agent.id], statuses=statuses, limit=limit))
        mine = []
        for run in found:
            if run.seq_start is None:
                continue
            first = await self.conversation_store.messages(thread.agent.id, conv, limit=1, after=run.seq_start - 1)
            if first and first[0].seq == run.seq_start:
                mine.append(run.id)
        return mine

    async def _conversation_run(
        self, conversation: str, *, agent: str | None = None, run_id: str | None = None,
    ) -> str:
        """The run to resume the stream of: ``run_id`` (one of the thread's), else the thread's
        active run, else its latest; InvalidRequestError if it has none."""
        thread = await self._thread(conversation, agent)
        if run_id is not None:
            if run_id not in await self._thread_runs(thread, active=False, limit=1000):
                raise NotFoundError(f"no run with id {run_id!r} in this conversation")
            return run_id
        found = await self._thread_runs(thread, active=True) or await self._thread_runs(thread, active=False, limit=5)
        if not found:
            raise InvalidRequestError("no run to resume in this conversation: send a message first")
        return found[0]

    async def cancel_conversation(self, conversation: str, *, agent: str | None = None) -> dict[str, str]:
        """Cancel the active runs of a thread (a running one stops after its current step):
        their new status by run id."""
        thread = await self._thread(conversation, agent)
        mine = await self._thread_runs(thread, active=True)
        if not mine:
            return {}
        done: dict[str, str] = await self._runs_api().cancel_runs(thread.agent.id, mine)
        return done
