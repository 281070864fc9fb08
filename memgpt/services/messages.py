"""Messages: send input to an agent (one turn at a time) and read its recall memory."""

from __future__ import annotations

from datetime import datetime

from memgpt.core.errors import InvalidRequestError
from memgpt.core.events import Listener
from memgpt.core.schemas import Message, SendResult
from memgpt.memory import recall
from memgpt.memory.stores import Page
from memgpt.runtime import loop as agent_loop
from memgpt.services.base import ServiceBase


class MessagesApi(ServiceBase):
    """Messages: send input to an agent (one turn at a time) and read its recall memory."""

    async def send_message(
        self, agent: str, text: str, *, on_event: Listener | None = None
    ) -> SendResult:
        """Send the agent a user message; returns every step it took.

        ``on_event`` receives the loop's events (memgpt.core.events): streamed deltas, each
        message once committed, memory changes, each finished step and the finished run.
        """
        if not text.strip():
            raise InvalidRequestError("message text is empty")
        return await self._send(agent, Message.user(text), on_event)

    async def send_event(
        self, agent: str, text: str, *, on_event: Listener | None = None
    ) -> SendResult:
        """Wake the agent with a system event (a timer, a webhook, a finished job)."""
        return await self._send(agent, Message.event(text), on_event)

    async def _send(self, agent: str, message: Message, on_event: Listener | None) -> SendResult:
        kernel = self.kernel
        state = kernel.peek(agent, self.owner) or await self.get_agent(agent)
        async with kernel.lock(state.id) as lease:
            runtime = await self.runtime(lease)
            runtime.listener = on_event
            try:
                result = await agent_loop.run(runtime, message)
            except BaseException:
                kernel.forget(state.id)  # what was loaded holds the failed step's changes
                raise
            finally:
                lease.released = runtime.released
            self.keep(runtime)
        kernel.embed_later(state.id)
        return result

    async def get_message(self, agent: str, message_id: str) -> Message:
        """One message of the agent's recall memory by id."""
        state = await self.get_agent(agent)
        return await self.stores.recall.get(state.id, message_id)

    async def list_messages(
        self, agent: str, *, limit: int = 50, before: int | None = None, after: int | None = None
    ) -> list[Message]:
        """Recall memory in order; page with the ``seq`` of a message as before/after."""
        state = await self.get_agent(agent)
        return await self.stores.recall.window(state.id, limit=limit, before=before, after=after)

    async def search_messages(
        self,
        agent: str,
        query: str | None = None,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 10,
        offset: int = 0,
    ) -> Page[Message]:
        """Search recall memory by words and/or a [start, end) date range."""
        state = await self.get_agent(agent)
        return await recall.search(
            self.stores.recall, self.embedder, state.id, query,
            start=start, end=end, limit=limit, offset=offset,
        )
