"""AgentRuntime: one loaded agent and the unit of work its current step is building.

Tools read and change memory through it (it is their ``ToolContext``). Nothing is written
as it happens: messages get their seq, blocks and passages change in memory and in the
pending ``StepWrite``, and ``commit`` applies the lot in one transaction. A crash before the
commit leaves the step wholly unapplied; the loop then re-asks the model next time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from memgpt.core.errors import ContextOverflowError
from memgpt.core.events import Listener, MemoryChanged, MessageSaved
from memgpt.core.prompts import PRESSURE_EVENT
from memgpt.core.schemas import (
    AgentState, Block, Message, Passage, Role, TextPart, ToolResultPart, reply_reserve, utcnow,
)
from memgpt.core.settings import Settings
from memgpt.embeddings.base import Embedder
from memgpt.llm.base import Model, ModelRequest
from memgpt.llm.tokens import count_message, count_messages, count_tools
from memgpt.memory import archival, recall
from memgpt.memory.blocks import find
from memgpt.memory.stores import Page, Stores
from memgpt.memory.unit import StepRecord, StepWrite, UnitStore
from memgpt.memory.file_view import AgentFiles
from memgpt.memory.runs import Run
from memgpt.runtime.context import MemoryStats, files_shown, render_system
from memgpt.runtime.summarizer import eviction_cut, summarize
from memgpt.tools.registry import ToolRegistry


class AgentRuntime:
    """One loaded agent: state, blocks and window, plus what it runs with."""

    def __init__(
        self,
        state: AgentState,
        blocks: list[Block],
        context: list[Message],
        *,
        stores: Stores,
        unit: UnitStore,
        model: Model,
        summarizer: Model,
        tools: ToolRegistry,
        embedder: Embedder,
        settings: Settings,
        listener: Listener | None = None,
        journal_clean: bool = False,
        lease_holder: str | None = None,
        conversation_id: str | None = None,
        next_seq: int | None = None,
        files: AgentFiles | None = None,
        window_tokens: int | None = None,
        archival_count: int | None = None,
    ) -> None:
        self.state, self.blocks, self.context = state, blocks, context
        self.stores, self.unit, self.model, self.summarizer = stores, unit, model, summarizer
        self.tools, self.embedder, self.settings = tools, embedder, settings
        self.listener = listener
        self.streaming = listener is not None
        """Whether the model's reply is streamed (deltas to the listener): only when a caller
        listens, not for the bookkeeping listeners of runs."""
        self.max_steps = settings.max_chain_steps
        """Steps this input may take (a send may ask for fewer, never for more)."""
        self.page_size = settings.page_size
        self.conversation_id = conversation_id
        """The thread this runtime runs in (None: the agent's default one); its messages and
        its part of the position are written there (see ``StepWrite.conversation_id``)."""
        self.next_seq = next_seq if next_seq is not None else (
            context[-1].seq + 1 if context else state.context_start)
        """Threads share the agent's seq: a loader that knows the agent's next seq gives it."""
        self.pending = StepWrite(state.id, conversation_id=conversation_id)
        self.archival_count = archival_count
        """The agent's stored passages, when the loader knows without reading (a new agent's 0):
        used by the first compile of the system message only; later ones count afresh."""
        self.journal_clean = journal_clean
        self.lease_holder = lease_holder
        self.released = False
        """Whether the last commit gave the lease back."""
        self.run: Run | None = None
        """The run this turn belongs to: recorded on each step, its usage totalled as steps
        commit, and ended with the turn's last commit."""
        self.run_unsaved = False
        """Whether ``run`` is still to be stored (with the next commit, the input's)."""
        self.cancel_requested: Callable[[], bool] = lambda: self.cancel_stored
        self.cancel_stored = False
        """Whether a step's commit found the run asked to stop (by any process)."""
        """Checked between steps: True stops the chain with stop reason ``cancelled``."""
        self.window_tokens = window_tokens
        """Tokens of ``context``, kept as messages come and go (None: count them)."""
        self._system: Message | None = None
        self.files = files
        """The agent's files (the file tools' port; None when it has no folder)."""

    # --- memory access for tools (ToolContext) -------------------------------------------
    async def get_block(self, label: str) -> Block:
        """The current block with label."""
        return find(self.blocks, label)

    async def edit_block(self, label: str, new: Block) -> None:
        """Change a block; it is written with the step."""
        self.blocks = [new if b.label == label else b for b in self.blocks]
        self.pending.blocks[label] = new
        self.state.last_memory_edit = new.updated_at
        self.state.memory_dirty = True

    async def search_recall(
        self, query: str | None, start: datetime | None, end: datetime | None, page: int
    ) -> Page[Message]:
        """One page of recall search (committed messages)."""
        size = self.page_size
        return await recall.search(
            self.stores.recall, self.embedder, self.state.id, query,
            start=start, end=end, limit=size, offset=(page - 1) * size,
        )

    async def insert_passage(self, text: str) -> Passage:
        """Embed a passage; it is stored with the step."""
        vectors = await asyncio.to_thread(self.embedder.embed, [text])
        passage = Passage(agent_id=self.state.id, text=text, embedding_model=self.embedder.name)
        self.pending.passages.append(passage)
        self.pending.vectors.append(vectors[0])
        self.state.memory_dirty = True
        return passage

    async def search_archival(self, query: str, page: int) -> Page[Passage]:
        """One page of hybrid archival search (committed passages)."""
        size = self.page_size
        return await archival.search(
            self.stores.archival, self.embedder, self.state.id, query,
            limit=size, offset=(page - 1) * size,
        )

    async def pause_heartbeats(self, until: datetime) -> None:
        """Record that timed heartbeats are paused (written with the step)."""
        self.state.heartbeats_paused_until = until

    # --- the unit of work ------------------------------------------------------------------
    def append(self, messages: list[Message]) -> list[Message]:
        """Give messages their seq and put them in context; they are written with the step."""
        out = []
        for m in messages:
            m = m.model_copy(update={"agent_id": self.state.id, "seq": self.next_seq})
            self.next_seq += 1
            out.append(m)
        self.context.extend(out)
        self.pending.messages.extend(out)
        if self.window_tokens is not None:
            self.window_tokens += count_messages(out)
        return out

    async def commit(self, record: StepRecord | None = None, *, last: bool = False) -> None:
        """Write everything pending in one transaction, then tell the listener. The turn's
        ``last`` commit also gives back the lease it runs under."""
        work, self.pending = self.pending, StepWrite(self.state.id, conversation_id=self.conversation_id)
        work.position, work.step = self.state.position(), record
        work.release = self.lease_holder if last else None
        self._record_run(work, record, last)
        await uninterrupted(self._apply(work, last))
        self.run_unsaved = self.run_unsaved and work.run_open is None
        self.cancel_stored |= work.cancel_requested
        if work.run_end is not None and self.run is not None:  # stored: now it has ended
            for name in Run.model_fields:
                setattr(self.run, name, getattr(work.run_end, name))

    @property
    def run_id(self) -> str | None:
        """The id of the turn's run (None outside runs)."""
        return None if self.run is None else self.run.id

    def _record_run(self, work: StepWrite, record: StepRecord | None, last: bool) -> None:
        """Fold the run's record into the commit: opened with the first, its usage totalled
        over the steps, ended with the last (snapshots: the run object changes only once
        the commit has landed)."""
        run = self.run
        if run is None:
            return
        if self.run_unsaved:
            work.run_open = run.model_copy()
        if record is not None:
            run.usage, run.step_count = run.usage + record.step.usage, run.step_count + 1
            if last:
                ended = run.model_copy(update={"input_id": record.input_id})
                ended.end(record.step.stop_reason, None, self.next_seq - 1)
                work.run_end = ended

    async def _apply(self, work: StepWrite, last: bool) -> None:
        self.state.version = await self.unit.commit(work)
        self.released = last and self.lease_holder is not None
        if self.listener is None:
            return
        for m in work.messages:
            await self.listener(MessageSaved(agent_id=self.state.id, message=m))
        if work.blocks or work.passages:
            await self.listener(MemoryChanged(
                agent_id=self.state.id, blocks=list(work.blocks), passages=len(work.passages)))

    # --- context -----------------------------------------------------------------------------
    async def system_message(self) -> Message:
        """The system message, recompiled only if memory changed since the last compile."""
        state = self.state
        files = await self.files.render() if self.files is not None else ""
        if state.memory_dirty or not state.system_compiled or not files_shown(state.system_compiled, files):
            stats = MemoryStats(
                recall_hidden=state.context_start,
                recall_total=self.next_seq,
                archival=await self._archival_count() + len(self.pending.passages),
                last_edit=state.last_memory_edit,
                now=utcnow(),
            )
            state.system_compiled = render_system(state.instructions, self.blocks, state.summary, stats, files)
            state.memory_dirty = False
        if self._system is None or self._system.text != state.system_compiled:
            self._system = Message(role=Role.SYSTEM, parts=[TextPart(text=state.system_compiled)])
        return self._system  # one object per compile, so its token count is counted once

    async def _archival_count(self) -> int:
        known, self.archival_count = self.archival_count, None
        return known if known is not None else await self.stores.archival.count(self.state.id)

    def output_tokens(self) -> int:
        """Tokens reserved for the reply (``reply_reserve``)."""
        return reply_reserve(self.state.context_window, self.state.max_output_tokens)

    def request(self, system: Message) -> ModelRequest:
        """The model request for the current context."""
        return ModelRequest(
            messages=[system, *self.context], tools=self.tools.schemas(), max_tokens=self.output_tokens()
        )

    def tokens(self, request: ModelRequest) -> int:
        """Tokens of a request (prompt side) built from the current context: the window's
        count is kept as messages come and go instead of summed on every step."""
        if self.window_tokens is None:
            self.window_tokens = count_messages(self.context)
        return count_message(request.messages[0]) + self.window_tokens + count_tools(request.tools)

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
                self.append([Message.event(PRESSURE_EVENT.format(pct=round(100 * total / window)))])
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
        self.window_tokens = None
        self.state.summary = await summarize(
            self.summarizer, self.state.summary, evicted,
            window=self.state.context_window, summary_tokens=self.summary_budget(),
        )
        self.state.context_start = self.context[0].seq
        self.state.warned = False
        self.state.memory_dirty = True

    def summary_budget(self) -> int:
        """Tokens the summary may use: the configured cap, at most 8% of the window."""
        return min(self.settings.summary_tokens, int(self.state.context_window * 0.08))

    async def close_interrupted(self) -> None:
        """Answer tool calls a crash left without a result, and say which external tool calls
        started but never committed (their effects may have happened). A window this process
        kept from its last turn here holds only whole steps: nothing to do."""
        if self.journal_clean:
            return
        answered = {r.call_id for m in self.context for r in m.tool_results}
        for m in list(self.context):
            for call in m.tool_calls:
                if call.id not in answered and not call.requires_approval:  # those wait
                    self.append([tool_result(call.id, call.name, "Interrupted before it ran.", True)])
        for entry in await self.unit.journal_open(self.state.id):
            self.pending.finished_calls.append(entry.call_id)
            self.append([Message.event(
                f"A call to {entry.tool} with arguments {entry.arguments} started at "
                f"{entry.started_at:%Y-%m-%d %H:%M:%S} UTC but was interrupted before its result "
                "was saved: it may or may not have taken effect."
            )])
        self.journal_clean = True  # answered once: a second call finds nothing to do


async def uninterrupted(work: Coroutine[Any, Any, None]) -> None:
    """Run work to its end even if the caller is cancelled meanwhile (a deadline, a client
    gone), then pass the cancellation on: a commit is never abandoned with its outcome
    unknown, so the runtime knows what was written and the lease's state is certain."""
    task = asyncio.ensure_future(work)
    cancelled = False
    while True:
        try:
            await asyncio.shield(task)
            break
        except asyncio.CancelledError:
            if task.done():
                raise
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError


def tool_result(call_id: str, name: str, content: str, is_error: bool) -> Message:
    """A tool-role message carrying one result."""
    part = ToolResultPart(call_id=call_id, name=name, content=content, is_error=is_error)
    return Message(role=Role.TOOL, parts=[part])
