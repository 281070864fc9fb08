"""Every send is a run: its record is opened under the agent's lease and closed with the turn.

What one process knows of its runs lives in ``Live`` (one per kernel): which runs were asked
to stop (the loop checks between steps), who follows a run's events (a resumed stream), the
per-agent workers of background runs, and whether runs left by a dead process were settled.

Recovery rule. A run is ``running`` only while its process holds the agent's lease, so:
opening a run fails every other ``running`` run of the same agent (the lease proves they are
dead), and the first use of runs in a process fails the ``running`` runs of dead processes on
this host. Either way the run ends ``failed`` with its input kept (it was committed to
recall before any model call, and the run row holds it too). A background run still
``created`` never started: its input is durable in the run row, so it is delivered, in order,
by a worker (it is not failed).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from memgpt.core import urls
from memgpt.core.events import Listener, RunFinished, StepFinished
from memgpt.core.events import MessageSaved
from memgpt.core.schemas import Message, SendResult, StopReason, utcnow
from memgpt.memory.runs import INTERRUPTED, Run, RunStatus, RunStore
from memgpt.runtime.agent import AgentRuntime
from memgpt.services.kernel import Kernel, holder_is_dead

log = logging.getLogger("memgpt.runs")
CALLBACK_TIMEOUT = 10.0
"""Seconds a run's callback POST may take."""

Followed = MessageSaved | StepFinished | RunFinished


class Live:
    """What this process knows of runs beyond their rows."""

    def __init__(self) -> None:
        self.cancelled: set[str] = set()
        self.followers: dict[str, list[asyncio.Queue[Followed]]] = {}
        self.workers: dict[str, asyncio.Task[None]] = {}
        self.tasks: set[asyncio.Task[Any]] = set()
        self.recovered = False
        self.lock = asyncio.Lock()

    def follow(self, run_id: str) -> asyncio.Queue[Followed]:
        """A queue receiving the run's saved messages, steps and end from now on."""
        queue: asyncio.Queue[Followed] = asyncio.Queue()
        self.followers.setdefault(run_id, []).append(queue)
        return queue

    def unfollow(self, run_id: str, queue: asyncio.Queue[Followed]) -> None:
        """Stop delivering the run's events to queue."""
        queues = self.followers.get(run_id, [])
        if queue in queues:
            queues.remove(queue)
        if not queues:
            self.followers.pop(run_id, None)

    def spawn(self, work: Awaitable[Any]) -> None:
        """Run work in the background, keeping a reference until it ends."""
        task = asyncio.ensure_future(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


_LIVE: weakref.WeakKeyDictionary[Kernel, Live] = weakref.WeakKeyDictionary()


def live(kernel: Kernel) -> Live:
    """The run state of this kernel's process."""
    found = _LIVE.get(kernel)
    if found is None:
        found = _LIVE[kernel] = Live()
    return found


def store(kernel: Kernel) -> RunStore:
    """The run store of the kernel's database."""
    return kernel.storage.runs


async def open_run(kernel: Kernel, owner: str, message: Message, runtime: AgentRuntime,
                   run: Run | None) -> Run:
    """Open the turn's run under the agent's lease: a new ``running`` run for a direct send
    (stored with the input's commit), or the queued run a worker picked (raises RunCancelled
    if it was cancelled meanwhile)."""
    seq = runtime.next_seq
    if run is None:
        run = Run(agent_id=runtime.state.id, owner=owner, status=RunStatus.RUNNING,
                  input_role="event" if message.role == "event" else "user", input_text=message.text,
                  seq_start=seq, started_at=utcnow(), holder=kernel.holder)
        runtime.run_unsaved = True
    elif not await store(kernel).start(run.id, kernel.holder, seq):
        raise RunCancelled(run.id)
    run.status, run.seq_start, run.holder = RunStatus.RUNNING, seq, kernel.holder
    state = live(kernel)
    runtime.run = run
    runtime.cancel_requested = lambda: run.id in state.cancelled or runtime.cancel_stored
    return run


class RunCancelled(Exception):
    """A queued run was cancelled before it could start."""


def tap(kernel: Kernel, run: Run, on_event: Listener | None) -> Listener:
    """The turn's listener: notes the run's input, feeds its followers, then on_event (the
    runtime totals the run's usage as its steps commit)."""
    state = live(kernel)

    async def listener(event: Any) -> None:
        if isinstance(event, MessageSaved) and run.input_id is None and event.message.role in ("user", "event"):
            run.input_id = event.message.id
        if isinstance(event, (MessageSaved, StepFinished)):
            for queue in state.followers.get(run.id, []):
                queue.put_nowait(event)
        if on_event is not None:
            await on_event(event)

    return listener


async def close_run(kernel: Kernel, run: Run, runtime: AgentRuntime,
                    result: SendResult | None, error: BaseException | None) -> None:
    """Store how the turn ended unless its last commit did (never interrupted itself), tell
    its followers, then POST its callback."""
    live(kernel).cancelled.discard(run.id)
    if run.active:  # not ended by the turn's last commit: an error, or no step committed
        if result is not None:
            run.input_id = result.input.id
            run.end(result.steps[-1].stop_reason if result.steps else None, None, runtime.next_seq - 1)
        else:
            run.end(None, error, runtime.next_seq - len(runtime.pending.messages) - 1)
        runs = store(kernel)
        task = asyncio.ensure_future(runs.create(run) if runtime.run_unsaved else runs.finish(run))
        await asyncio.shield(task)  # the turn's caller may be cancelled: the record still lands
    ended = RunFinished(agent_id=run.agent_id, input_id=run.input_id or "", steps=run.step_count,
                        stop_reason=StopReason(run.stop_reason or "error"), usage=run.usage, error=run.error)
    for queue in live(kernel).followers.get(run.id, []):
        queue.put_nowait(ended)  # after the record: a follower reading it sees the end
    if run.callback_url:
        live(kernel).spawn(post_callback(kernel, run))


async def post_callback(kernel: Kernel, run: Run) -> None:
    """POST the finished run to its callback_url; the outcome is recorded, never raised."""
    assert run.callback_url is not None
    body = run.model_dump(mode="json", include={
        "id", "agent_id", "status", "stop_reason", "created_at", "completed_at", "metadata", "error",
    }) | {"usage": run.usage.model_dump(), "step_count": run.step_count}
    code: int | None = None
    problem: str | None = None
    try:
        response = await urls.post_json(run.callback_url, body, timeout=CALLBACK_TIMEOUT,
                                        private=urls.private_urls_allowed(kernel.settings))
        code = response.status_code
        if response.is_error:
            problem = f"callback answered HTTP {code}"
    except Exception as exc:  # a callback never fails the run
        problem = f"{type(exc).__name__}: {exc}"
    if problem:
        log.warning("run %s: callback to %s failed: %s", run.id, run.callback_url, problem)
    try:
        await store(kernel).record_callback(run.id, code, problem)
    except Exception:
        log.exception("run %s: could not record its callback", run.id)


async def recover(kernel: Kernel, resume: Callable[[Run], None]) -> None:
    """Once per process: fail the running runs of dead processes (input kept), and hand
    background runs still ``created`` to ``resume`` (their input is durable)."""
    state = live(kernel)
    if state.recovered:
        return
    async with state.lock:
        if state.recovered:
            return
        for run in await store(kernel).active():
            if run.status is RunStatus.RUNNING and run.holder and run.holder != kernel.holder \
                    and holder_is_dead(run.holder):
                run.status, run.stop_reason, run.error = RunStatus.FAILED, "error", INTERRUPTED
                run.completed_at = utcnow()
                await store(kernel).finish(run)
            elif run.status is RunStatus.CREATED and run.background:
                resume(run)
        state.recovered = True
