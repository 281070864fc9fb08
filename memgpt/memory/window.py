"""The in-context messages of recently run agents, kept between sends.

The window is a suffix of recall (every message with seq >= the agent's ``context_start``),
and recall is append-only, so a cached window stays valid up to its last seq: a send reads
only the messages stored after it (usually none) and drops those an eviction moved out.
That holds whoever wrote them, another process included. Without this every send re-read
and re-parsed the whole window, and step time grew with it.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from memgpt.memory.stores import RecallStore
from memgpt.core.schemas import AgentState, Message


@dataclass(frozen=True)
class _Window:
    start: int
    last: int
    messages: tuple[Message, ...]


class WindowCache:
    """Windows of up to ``capacity`` agents, least recently used dropped first."""

    def __init__(self, recall: RecallStore, capacity: int = 1024) -> None:
        self.recall = recall
        self.capacity = capacity
        self._windows: OrderedDict[tuple[str, str | None], _Window] = OrderedDict()

    async def load(self, state: AgentState, conversation: str | None = None) -> list[Message]:
        """The in-context messages of the agent's thread (a conversation's, or with None the
        default one), as ``recall.thread_since(id, conversation, context_start)`` would give."""
        hit = self._windows.get((state.id, conversation))
        if hit is None or hit.start > state.context_start:
            return await self.recall.thread_since(state.id, conversation, state.context_start)
        newer = await self.recall.thread_since(state.id, conversation, hit.last + 1)
        return [m for m in hit.messages if m.seq >= state.context_start] + newer

    def keep(self, state: AgentState, context: list[Message], conversation: str | None = None) -> None:
        """Remember the window a thread of an agent ended its turn with."""
        last = context[-1].seq if context else state.context_start - 1
        key = (state.id, conversation)
        self._windows[key] = _Window(state.context_start, last, tuple(context))
        self._windows.move_to_end(key)
        while len(self._windows) > self.capacity:
            self._windows.popitem(last=False)

    def drop(self, agent_id: str) -> None:
        """Forget an agent's windows, in every thread (it was deleted or replaced)."""
        for key in [k for k in self._windows if k[0] == agent_id]:
            del self._windows[key]
