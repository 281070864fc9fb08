"""Runs and steps of the caller's agents: async sends, run and step records, cancel.

``send_async`` stores the input in a ``created`` run (durable before it returns) and a
per-agent worker task of this process runs the agent's queued runs one at a time, oldest
first, each as a normal turn; a run that finds the agent busy waits its turn. So a message
that arrives while a chain runs is queued and delivered, never lost. ``cancel_runs`` ends
queued runs at once and asks running ones to stop after their current step.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Literal

from memgpt.core import urls
from memgpt.core.errors import AgentBusyError, InvalidRequestError, NotFoundError
from memgpt.core.schemas import Message, Role, utcnow
from memgpt.memory.runs import Run, RunQuery, RunStatus, StepInfo, StepQuery
from memgpt.services import run_tracking as tracking
from memgpt.services.messages import MessagesApi
from memgpt.services.window import WindowApi

log = logging.getLogger("memgpt.runs")

__all__ = ["RunsApi"]


class RunsApi(WindowApi):
    """Runs of the caller's agents (plus window control, ``WindowApi``)."""

    async def recover_runs(self) -> None:
        """Settle runs left by dead processes and resume queued ones (once per process; every
        runs method calls it, a server may call it at startup)."""
        await tracking.recover(self.kernel, lambda run: self._wake_runs(run.agent_id))

    async def send_async(
        self, agent: str, text: str, *, role: Literal["user", "event"] = "user",
        callback_url: str | None = None, metadata: dict[str, Any] | None = None,
        request_config: dict[str, Any] | None = None,
    ) -> Run:
        """Queue an input for the agent and return its run at once (status ``created``);
        the server runs it in the background after the agent's earlier queued runs.
        ``callback_url`` (http or https) is POSTed the finished run; ``request_config`` is
        kept with the run (its ``max_steps``, a positive integer, bounds the turn)."""
        if not text.strip():
            raise InvalidRequestError("message text is empty")
        steps = (request_config or {}).get("max_steps")
        if steps is not None and _max_steps(request_config or {}) is None:
            raise InvalidRequestError(f"request_config.max_steps must be a positive integer (got {steps!r})")
        if callback_url is not None:  # the outbound URL policy (docs/security.md); again at POST
            await urls.check_url_host(callback_url, private=urls.private_urls_allowed(self.settings),
                                      what="callback_url")
        await self.recover_runs()
        state = await self.get_agent(agent)
        run = Run(agent_id=state.id, owner=self.owner, background=True, input_role=role, input_text=text,
                  callback_url=callback_url, metadata=metadata or {}, request_config=request_config or {})
        await self.kernel.storage.runs.create(run)
        self._wake_runs(state.id)
        return run

    def _wake_runs(self, agent_id: str) -> None:
        """Make sure a worker runs the agent's queued runs."""
        live = tracking.live(self.kernel)
        task = live.workers.get(agent_id)
        if task is None or task.done():
            live.workers[agent_id] = asyncio.create_task(self._runs_worker(agent_id))

    async def _runs_worker(self, agent_id: str) -> None:
        """Run the agent's queued runs in order until none is left."""
        runs = self.kernel.storage.runs
        while (run := await runs.next_queued(agent_id)) is not None:
            view = MessagesApi(self.kernel, run.owner)
            view.settings = self.settings
            message = Message.event(run.input_text) if run.input_role == "event" else Message.user(run.input_text)
            try:
                await self._run_queued(view, run, message)
            except tracking.RunCancelled:
                continue
            except Exception as exc:  # recorded on the run (if it opened) and logged
                log.warning("run %s failed: %s: %s", run.id, type(exc).__name__, exc)
                run.status, run.stop_reason, run.error = RunStatus.FAILED, "error", f"{type(exc).__name__}: {exc}"
                run.completed_at = utcnow()
                await runs.finish(run)  # a no-op if the turn already recorded its end

    @staticmethod
    async def _run_queued(view: MessagesApi, run: Run, message: Message) -> None:
        """One queued run as a turn; a busy agent is waited for, however long its turn."""
        while True:
            try:
                await view._send(run.agent_id, message, None, run, max_steps=_max_steps(run.request_config))
                return
            except AgentBusyError:
                await asyncio.sleep(0.05)  # waited busy_wait already; try again at once, politely

    async def get_run(self, run_id: str) -> Run:
        """One of the caller's runs."""
        await self.recover_runs()
        return await self.kernel.storage.runs.get(run_id, self.owner)

    async def list_runs(
        self, agent: str | None = None, *, statuses: list[str] | None = None, background: bool | None = None,
        before: str | None = None, after: str | None = None, limit: int = 50, ascending: bool = False,
    ) -> list[Run]:
        """The caller's runs (of one agent, with some statuses...), newest first unless
        ``ascending``; ``before``/``after`` are run ids."""
        return await self._find_runs(RunQuery(
            agent_ids=[agent] if agent else None, statuses=statuses, background=background,
            before=before, after=after, limit=limit, ascending=ascending))

    async def _find_runs(self, query: RunQuery) -> list[Run]:
        await self.recover_runs()
        if query.agent_ids:
            query = query.model_copy(update={"agent_ids": [(await self.get_agent(a)).id for a in query.agent_ids]})
        return await self.kernel.storage.runs.find(self.owner, query)

    async def run_messages(
        self, run_id: str, *, after_seq: int | None = None, limit: int = 1000
    ) -> list[Message]:
        """The messages a run wrote (its input first), in order; ``after_seq`` skips those
        up to that seq."""
        run = await self.get_run(run_id)
        if run.seq_start is None:
            return []
        start = run.seq_start - 1 if after_seq is None else max(after_seq, run.seq_start - 1)
        before = None if run.seq_end is None else run.seq_end + 1
        if before is not None and start + 1 >= before:
            return []
        return await self.stores.recall.window(run.agent_id, limit=limit, after=start, before=before)

    async def cancel_runs(self, agent: str, run_ids: list[str] | None = None) -> dict[str, str]:
        """Cancel the agent's active runs (those named, or all): queued ones end at once,
        running ones stop after their current step. Returns the new status by run id."""
        state = await self.get_agent(agent)
        await self.recover_runs()
        if run_ids is not None:
            for run_id in run_ids:
                run = await self.kernel.storage.runs.get(run_id, self.owner)
                if run.agent_id != state.id:
                    raise NotFoundError(f"no run with id {run_id!r} for agent {state.id}")
        done = await self.kernel.storage.runs.cancel(self.owner, state.id, run_ids)
        tracking.live(self.kernel).cancelled.update(done)
        return done

    async def list_steps(
        self, *, agent: str | None = None, run_id: str | None = None,
        feedback: Literal["positive", "negative"] | None = None, before: str | None = None,
        after: str | None = None, limit: int = 50, ascending: bool = False,
    ) -> list[StepInfo]:
        """The caller's step records (of one agent or run, with some feedback), newest first
        unless ``ascending``; ``before``/``after`` are step ids."""
        return await self._find_steps(StepQuery(
            agent_id=agent, run_id=run_id, feedback=feedback, before=before, after=after, limit=limit,
            ascending=ascending))

    async def _find_steps(self, query: StepQuery) -> list[StepInfo]:
        if query.agent_id is not None:
            query = query.model_copy(update={"agent_id": (await self.get_agent(query.agent_id)).id})
        if query.run_id is not None:
            await self.get_run(query.run_id)
        return await self.kernel.storage.runs.steps(self.owner, query)

    async def get_step(self, step_id: str) -> StepInfo:
        """One of the caller's step records."""
        return await self.kernel.storage.runs.step(self.owner, step_id)

    async def _step_messages(self, step_id: str) -> list[Message]:
        """The messages one step wrote (the model's reply and its tool results)."""
        step = await self.get_step(step_id)
        run_msgs = await self.stores.recall.window(step.agent_id, limit=1000) if step.run_id is None else \
            await self.run_messages(step.run_id)
        return [m for m in run_msgs if m.step_id == step.id and m.role in (Role.ASSISTANT, Role.TOOL)]

    async def set_step_feedback(
        self, step_id: str, feedback: Literal["positive", "negative"] | None, tags: list[str] | None = None
    ) -> StepInfo:
        """Store feedback (and tags) on one of the caller's steps."""
        return await self.kernel.storage.runs.set_feedback(self.owner, step_id, feedback, tags)

    def _follow_run(self, run_id: str) -> asyncio.Queue[tracking.Followed]:
        """Receive a run's saved messages, steps and end as they happen (in this process)."""
        return tracking.live(self.kernel).follow(run_id)

    def _unfollow_run(self, run_id: str, queue: asyncio.Queue[tracking.Followed]) -> None:
        """Stop following a run."""
        tracking.live(self.kernel).unfollow(run_id, queue)


def _max_steps(request_config: dict[str, Any]) -> int | None:
    """A run's own step bound (``request_config.max_steps``) if it is a positive integer."""
    steps = request_config.get("max_steps")
    return steps if isinstance(steps, int) and not isinstance(steps, bool) and steps >= 1 else None
