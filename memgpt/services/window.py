"""Window control: start a new window, compact the window into the summary now, recompile.

Each runs like a step: under the agent's lock and lease, on the loaded runtime, committed as
one unit (the loop position moves), so the next model request sees the change and a turn in
another process never interleaves with it.

Reset follows Letta: the in-context messages are dropped from the window but recall keeps
every message (searchable, listed); the recursive summary goes too (in Letta it is one of the
dropped in-context messages) and the system message is rebuilt from current memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from memgpt.core.errors import ContextOverflowError
from memgpt.core.schemas import AgentState, Message, utcnow
from memgpt.llm.tokens import count_messages
from memgpt.memory.runs import Compaction
from memgpt.runtime.agent import AgentRuntime
from memgpt.services.base import ServiceBase

RESET_EVENT = (
    "A new conversation window begins. Earlier messages are not in context but remain in "
    "recall memory (conversation_search finds them); core memory is unchanged."
)
"""The initial message a reset adds with ``add_default_initial_messages``."""


class WindowApi(ServiceBase):
    """Reset, compact and recompile an agent's context window."""

    @asynccontextmanager
    async def _holding(self, agent: str, *, write: bool = True) -> AsyncIterator[AgentRuntime]:
        """The agent's runtime under its lease; with ``write`` its changes are committed as
        one unit (and the lease given back by that commit) when the block ends."""
        state = await self.get_agent(agent)
        kernel = self.kernel
        async with kernel.lock(state.id) as lease:
            runtime = await self.runtime(lease)
            try:
                yield runtime
                if write:
                    await runtime.commit(last=True)
            except BaseException:
                kernel.forget(state.id)
                raise
            finally:
                lease.released = runtime.released
            if write:
                self.keep(runtime)

    async def reset_messages(self, agent: str, *, add_default_initial_messages: bool = False) -> AgentState:
        """Start a new window: nothing in context, no summary, system message rebuilt. Recall
        keeps every message. With ``add_default_initial_messages`` the window opens with one
        event saying so."""
        async with self._holding(agent) as runtime:
            state = runtime.state
            runtime.context, runtime.window_tokens = [], None
            state.context_start, state.summary, state.warned = runtime.next_seq, "", False
            state.memory_dirty = True
            if add_default_initial_messages:
                runtime.append([Message.event(RESET_EVENT)])
            await runtime.system_message()
        return runtime.state

    async def compact(self, agent: str) -> Compaction:
        """Evict the window into the recursive summary now, keeping the newest exchange (the
        cut lands on a user or event message, never between a tool call and its result)."""
        async with self._holding(agent) as runtime:
            before = len(runtime.context)
            if before > 1:
                try:
                    await runtime.evict(count_messages(runtime.context))
                except ContextOverflowError:  # nothing can go: the window is one exchange
                    pass
            await runtime.system_message()
        return Compaction(num_messages_before=before + 1, num_messages_after=len(runtime.context) + 1,
                          summary=runtime.state.summary)

    async def recompile(self, agent: str, *, dry_run: bool = False, update_timestamp: bool = False) -> str:
        """Rebuild the system message from current memory; ``dry_run`` only shows it."""
        async with self._holding(agent, write=not dry_run) as runtime:
            runtime.state.memory_dirty = True
            if update_timestamp:
                runtime.state.last_memory_edit = utcnow()
            await runtime.system_message()
        return runtime.state.system_compiled
