"""Messages: send input to an agent (one turn at a time) and read its recall memory."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from memgpt.core.errors import InvalidRequestError
from memgpt.core.events import Listener
from memgpt.core.schemas import Message, SendResult
from memgpt.memory import recall
from memgpt.memory.stores import Page
from memgpt.memory.conversations import Conversation
from memgpt.memory.runs import Run
from memgpt.runtime import loop as agent_loop
from memgpt.runtime.agent import AgentRuntime
from memgpt.core.tool_control import Decision
from memgpt.runtime.rules import decide
from memgpt.services import run_tracking as tracking
from memgpt.services.base import ServiceBase


class MessagesApi(ServiceBase):
    """Messages: send input to an agent (one turn at a time) and read its recall memory."""

    async def send_message(
        self, agent: str, text: str, *, on_event: Listener | None = None, max_steps: int | None = None,
    ) -> SendResult:
        """Send the agent a user message; returns every step it took.

        ``on_event`` receives the loop's events (memgpt.core.events): streamed deltas, each
        message once committed, memory changes, each finished step and the finished run.
        ``max_steps`` bounds this turn's steps below the server's ``MEMGPT_MAX_CHAIN_STEPS``.
        """
        if not text.strip():
            raise InvalidRequestError("message text is empty")
        return await self._send(agent, Message.user(text), on_event, max_steps=max_steps)

    async def send_event(
        self, agent: str, text: str, *, on_event: Listener | None = None, max_steps: int | None = None,
    ) -> SendResult:
        """Wake the agent with a system event (a timer, a webhook, a finished job)."""
        return await self._send(agent, Message.event(text), on_event, max_steps=max_steps)

    async def send_approval(
        self, agent: str, decisions: list[Decision], *, request_id: str | None = None,
        on_event: Listener | None = None, max_steps: int | None = None,
    ) -> SendResult:
        """Answer the tool calls waiting for approval (``memgpt.runtime.rules``): approved ones
        run, denied ones tell the model why; the answer is the input of a turn that goes on."""
        async def answer(runtime: AgentRuntime) -> Message:
            return await decide(runtime, decisions, request_id)

        return await self._send(agent, answer, on_event, max_steps=max_steps)

    async def _send(
        self, agent: str, message: Message | Callable[[AgentRuntime], Awaitable[Message]],
        on_event: Listener | None, run: Run | None = None, *, conversation: Conversation | None = None,
        max_steps: int | None = None,
    ) -> SendResult:
        """One turn under the agent's lease, recorded as a run (``run``: a queued one), of at
        most ``max_steps`` steps (never more than the settings allow)."""
        if max_steps is not None and max_steps < 1:
            raise InvalidRequestError(f"max_steps must be at least 1 (got {max_steps})")
        kernel = self.kernel
        state = kernel.peek(agent, self.owner) or await self.get_agent(agent)
        async with kernel.lock(state.id) as lease:
            runtime = await self.runtime(lease, conversation)  # None: the default thread
            runtime.max_steps = min(runtime.max_steps, max_steps or runtime.max_steps)
            try:
                if not isinstance(message, Message):  # made under the lease: an approval
                    message = await message(runtime)
                run = await tracking.open_run(kernel, self.owner, message, runtime, run)
                runtime.listener = tracking.tap(kernel, run, on_event)
                runtime.streaming = on_event is not None  # a caller listens: stream the reply
                result = await agent_loop.run(runtime, message)
            except BaseException as exc:
                kernel.forget(state.id)  # what was loaded holds the failed step's changes
                lease.released = runtime.released
                if runtime.run_id is not None and run is not None:
                    await tracking.close_run(kernel, run, runtime, None, exc)
                raise
            lease.released = runtime.released
            self.keep(runtime)
        await tracking.close_run(kernel, run, runtime, result, None)
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
