"""The agent runtime and its loop: compile, call the model, run tools, persist, continue."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from memgpt.context import MemoryStats, render_system
from memgpt.embeddings.base import Embedder
from memgpt.errors import ContextOverflowError
from memgpt.llm.base import Delta, Model, ModelRequest
from memgpt.llm.tokens import count_messages, count_tools
from memgpt.memory import archival, recall
from memgpt.memory.blocks import find
from memgpt.memory.stores import AgentStore, ArchivalStore, BlockStore, Page, RecallStore
from memgpt.prompts import BREAKER_EVENT, FAILED_EVENT, HEARTBEAT_EVENT, PRESSURE_EVENT
from memgpt.schemas import (
    AgentState, Block, Message, Passage, Role, SendResult, Step, TextPart, ToolResultPart, utcnow,
)
from memgpt.settings import Settings
from memgpt.summarizer import eviction_cut, summarize
from memgpt.tools.registry import ToolRegistry


Listener = Callable[[Delta | Message], Awaitable[None]]
"""Receives streamed deltas and every message as it is persisted."""


@dataclass(frozen=True)
class Stores:
    """The stores an agent persists into."""

    agents: AgentStore
    blocks: BlockStore
    recall: RecallStore
    archival: ArchivalStore


class AgentRuntime:
    """One loaded agent: its state, blocks and in-context messages, plus what it runs with."""

    def __init__(
        self,
        state: AgentState,
        blocks: list[Block],
        context: list[Message],
        *,
        stores: Stores,
        model: Model,
        summarizer: Model,
        tools: ToolRegistry,
        embedder: Embedder,
        settings: Settings,
    ) -> None:
        self.state, self.blocks, self.context = state, blocks, context
        self.stores, self.model, self.summarizer = stores, model, summarizer
        self.tools, self.embedder, self.settings = tools, embedder, settings
        self.page_size = settings.page_size
        self.listener: Listener | None = None

    # --- memory access for tools -------------------------------------------------------
    async def get_block(self, label: str) -> Block:
        """The current block with label."""
        return find(self.blocks, label)

    async def edit_block(self, label: str, new: Block) -> None:
        """Persist a changed block and mark the system message for recompilation."""
        await self.stores.blocks.save(self.state.id, new)
        self.blocks = [new if b.label == label else b for b in self.blocks]
        self.state.last_memory_edit = new.updated_at
        await self._memory_changed()

    async def search_recall(
        self, query: str | None, start: datetime | None, end: datetime | None, page: int
    ) -> Page[Message]:
        """One page of recall search."""
        size = self.page_size
        return await recall.search(
            self.stores.recall, self.embedder, self.state.id, query,
            start=start, end=end, limit=size, offset=(page - 1) * size,
        )

    async def insert_passage(self, text: str) -> Passage:
        """Embed and store one passage."""
        vectors = await asyncio.to_thread(self.embedder.embed, [text])
        passage = Passage(agent_id=self.state.id, text=text, embedding_model=self.embedder.name)
        await self.stores.archival.insert(self.state.id, [passage], vectors)
        await self._memory_changed()
        return passage

    async def search_archival(self, query: str, page: int) -> Page[Passage]:
        """One page of hybrid archival search."""
        size = self.page_size
        return await archival.search(
            self.stores.archival, self.embedder, self.state.id, query,
            limit=size, offset=(page - 1) * size,
        )

    async def pause_heartbeats(self, until: datetime) -> None:
        """Record that timed heartbeats are paused."""
        self.state.heartbeats_paused_until = until
        await self.stores.agents.save(self.state)

    async def _memory_changed(self) -> None:
        self.state.memory_dirty = True
        await self.stores.agents.save(self.state)

    # --- context ------------------------------------------------------------------------
    async def append(self, messages: list[Message]) -> list[Message]:
        """Persist messages to recall and put them in context."""
        stored = await self.stores.recall.append(self.state.id, messages)
        self.context.extend(stored)
        if self.listener is not None:
            for message in stored:
                await self.listener(message)
        return stored

    async def system_message(self) -> Message:
        """The system message, recompiled only if memory changed since the last compile."""
        state = self.state
        if state.memory_dirty or not state.system_compiled:
            stats = MemoryStats(
                recall_hidden=state.context_start,
                recall_total=await self.stores.recall.count(state.id),
                archival=await self.stores.archival.count(state.id),
                last_edit=state.last_memory_edit,
                now=utcnow(),
            )
            state.system_compiled = render_system(state.instructions, self.blocks, state.summary, stats)
            state.memory_dirty = False
            await self.stores.agents.save(state)
        return Message(role=Role.SYSTEM, parts=[TextPart(text=state.system_compiled)])

    def output_tokens(self) -> int:
        """Tokens reserved for the reply: the agent's setting, else min(4096, window / 8)."""
        return self.state.max_output_tokens or min(4096, self.state.context_window // 8)

    def request(self, system: Message) -> ModelRequest:
        """The model request for the current context."""
        return ModelRequest(
            messages=[system, *self.context],
            tools=self.tools.schemas(),
            max_tokens=self.output_tokens(),
        )

    def tokens(self, request: ModelRequest) -> int:
        """Tokens of a request (prompt side)."""
        return count_messages(request.messages) + count_tools(request.tools)

    async def prepare(self) -> ModelRequest:
        """A request that fits the window: warn past the threshold, evict past the limit."""
        window = self.state.context_window
        limit = window - self.output_tokens()
        warn_at = int(window * self.settings.warning_fraction)
        for _ in range(len(self.context) + 3):
            request = self.request(await self.system_message())
            total = self.tokens(request)
            if total > limit:
                await self.evict(total - warn_at)
            elif total > warn_at and not self.state.warned:
                self.state.warned = True
                await self.stores.agents.save(self.state)
                await self.append([Message.event(PRESSURE_EVENT.format(pct=round(100 * total / window)))])
            else:
                return request
        raise ContextOverflowError(f"could not fit the context into {window} tokens")

    async def evict(self, excess: int) -> None:
        """Move the oldest messages out of context into the recursive summary."""
        cut = eviction_cut(self.context, min_tokens=excess)
        if cut == 0:
            raise ContextOverflowError(
                f"the newest message alone does not fit the {self.state.context_window}-token "
                "window; it is saved in recall memory"
            )
        evicted, self.context = self.context[:cut], self.context[cut:]
        self.state.summary = await summarize(
            self.summarizer, self.state.summary, evicted,
            window=self.state.context_window, summary_tokens=self.summary_budget(),
        )
        self.state.context_start = self.context[0].seq
        self.state.warned = False
        await self._memory_changed()

    def summary_budget(self) -> int:
        """Tokens the summary may use: the configured cap, at most 8% of the window."""
        return min(self.settings.summary_tokens, int(self.state.context_window * 0.08))

    async def close_dangling_calls(self) -> None:
        """Give an error result to tool calls a crash left without one."""
        answered = {r.call_id for m in self.context for r in m.tool_results}
        for m in self.context:
            for call in m.tool_calls:
                if call.id not in answered:
                    await self.append([_result(call.id, call.name, "Interrupted before it ran.", True)])

    # --- one step -----------------------------------------------------------------------
    async def step(self, index: int) -> Step:
        """Compile, call the model once, run its tool calls; persist as it goes."""
        step = Step(index=index)
        request = await self.prepare()
        on_delta = self.listener
        try:
            response = await self.model.complete(request, on_delta=on_delta)
        except ContextOverflowError:  # the provider counts differently: evict, retry once
            await self.evict(0)
            response = await self.model.complete(await self.prepare(), on_delta=on_delta)
        step.repairs = response.repairs
        reply = response.message.model_copy(update={"step_id": step.id, "created_at": utcnow()})
        step.messages += await self.append([reply])
        step.usage = response.usage
        for call in reply.tool_calls:
            outcome = await self.tools.run(call, self)
            step.heartbeat |= outcome.heartbeat
            result = _result(call.id, call.name, outcome.content, outcome.is_error)
            step.messages += await self.append([result.model_copy(update={"step_id": step.id})])
        return step


def _result(call_id: str, name: str, content: str, is_error: bool) -> Message:
    part = ToolResultPart(call_id=call_id, name=name, content=content, is_error=is_error)
    return Message(role=Role.TOOL, parts=[part])


def _signature(step: Step) -> str:
    calls = []
    for m in step.messages:
        for c in m.tool_calls:
            try:
                args = json.loads(c.arguments)
                if isinstance(args, dict):
                    args.pop("request_heartbeat", None)
                canonical = json.dumps(args, sort_keys=True)
            except json.JSONDecodeError:
                canonical = c.arguments
            calls.append(f"{c.name}:{canonical}")
    return "|".join(calls)


async def run(agent: AgentRuntime, user_input: Message) -> SendResult:
    """Handle one input: persist it, then step until no heartbeat, the budget, or the breaker."""
    await agent.close_dangling_calls()
    [stored] = await agent.append([user_input])
    steps: list[Step] = []
    last, repeats = "", 0
    for index in range(agent.settings.max_chain_steps):
        step = await agent.step(index)
        steps.append(step)
        signature = _signature(step)
        repeats = repeats + 1 if signature and signature == last else 1
        last = signature
        if repeats >= agent.settings.repeat_limit:
            step.stop_reason = "repeated_call"
            step.messages += await agent.append([Message.event(BREAKER_EVENT.format(n=repeats))])
        elif not step.heartbeat:
            step.stop_reason = "end_turn"
        elif index + 1 == agent.settings.max_chain_steps:
            step.stop_reason = "max_steps"
        else:
            failed = any(r.is_error for m in step.messages for r in m.tool_results)
            step.messages += await agent.append([Message.event(FAILED_EVENT if failed else HEARTBEAT_EVENT)])
        await agent.stores.agents.save_step(agent.state.id, stored.id, agent.model.name, step)
        if step.stop_reason:
            break
    return SendResult(agent_id=agent.state.id, input=stored, steps=steps)
