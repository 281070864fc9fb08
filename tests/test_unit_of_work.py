"""The step as one unit of work: all of a step or none of it, the tool journal, leases,
configuration apart from loop position, and caches that notice other writers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from memgpt import AgentService, ScriptedModel, Settings
from memgpt.core.errors import ScriptExhaustedError
from memgpt.core.events import Delta, Event, MemoryChanged, MessageSaved, RunFinished, StepFinished, StopReason
from memgpt.core.schemas import Role
from memgpt.llm.scripted import reply, tool_call
from memgpt.memory.unit import StepWrite


class Crash(Exception):
    """Stands in for the process dying at this point."""


def crash_on_commit(svc: AgentService, monkeypatch: pytest.MonkeyPatch, nth: int) -> None:
    """Make the nth commit from now fail, as a crash before it would."""
    unit = svc.kernel.unit
    real = unit.commit
    seen = 0

    async def commit(write: StepWrite) -> int:
        nonlocal seen
        seen += 1
        if seen == nth:
            raise Crash("killed before the step's commit")
        return await real(write)

    monkeypatch.setattr(unit, "commit", commit)


async def test_step_that_never_commits_applies_nothing_and_keeps_the_input(
    service: AgentService, model: ScriptedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A core-memory edit made by a tool is not applied unless its step commits; the user's
    message stays; the next turn runs and applies its edit exactly once."""
    agent = await service.create_agent("a", model="scripted")
    before = (await service.get_block(agent.id, "human")).value
    model.push(tool_call("core_memory_append", label="human", content="tok-1", request_heartbeat=False))
    crash_on_commit(service, monkeypatch, 2)  # 1: the input, 2: the step
    with pytest.raises(Crash):
        await service.send_message(agent.id, "remember tok-1")
    monkeypatch.undo()
    assert (await service.get_block(agent.id, "human")).value == before
    history = await service.list_messages(agent.id)
    assert [m.role for m in history] == [Role.USER] and history[0].text == "remember tok-1"
    model.push(tool_call("core_memory_append", label="human", content="tok-1", request_heartbeat=True),
               reply("done"))
    result = await service.send_message(agent.id, "again")
    assert result.replies == ["done"]
    assert (await service.get_block(agent.id, "human")).value.count("tok-1") == 1
    passages = [m for m in await service.list_messages(agent.id) if m.role is Role.ASSISTANT]
    assert len(passages) == 2  # only the committed turn's two steps


async def test_passage_inserted_by_a_step_is_stored_with_it(
    service: AgentService, model: ScriptedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """archival_memory_insert in a step that fails to commit stores no passage."""
    agent = await service.create_agent("a", model="scripted")
    model.push(tool_call("archival_memory_insert", content="pass-1", request_heartbeat=False))
    crash_on_commit(service, monkeypatch, 2)
    with pytest.raises(Crash):
        await service.send_message(agent.id, "store it")
    monkeypatch.undo()
    assert await service.list_passages(agent.id) == []
    model.push(tool_call("archival_memory_insert", content="pass-1", request_heartbeat=False))
    await service.send_message(agent.id, "store it again")
    assert [p.text for p in await service.list_passages(agent.id)] == ["pass-1"]


async def test_external_tool_started_before_a_crash_is_reported_next_turn(
    service: AgentService, model: ScriptedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A custom tool's call is journalled before it runs; if its step never commits, the
    next turn tells the model the call may have taken effect, once."""
    source = 'def ping(n: int) -> str:\n    """Ping.\n\n    Args:\n        n: a number\n    """\n    return f"pong {n}"\n'
    await service.create_tool(source)
    agent = await service.create_agent("a", model="scripted", tools=["ping"])
    model.push(tool_call("ping", n=7, request_heartbeat=False))
    crash_on_commit(service, monkeypatch, 2)
    with pytest.raises(Crash):
        await service.send_message(agent.id, "ping please")
    monkeypatch.undo()
    model.push(reply("ok"), reply("ok again"))
    await service.send_message(agent.id, "hello")
    notes = [m.text for m in model.calls[-1].messages if m.role is Role.EVENT and "ping" in m.text]
    assert len(notes) == 1 and '{"n": 7' in notes[0] and "may or may not" in notes[0]
    await service.send_message(agent.id, "and again")
    notes = [m.text for m in model.calls[-1].messages if m.role is Role.EVENT and "ping" in m.text]
    assert len(notes) == 1  # reported once, not on every turn


async def test_rename_during_a_turn_is_not_overwritten_by_the_step(
    service: AgentService, model: ScriptedModel
) -> None:
    """A step writes the loop position only; an operator's change made meanwhile stays."""
    agent = await service.create_agent("a", model="scripted")
    started, go_on = asyncio.Event(), asyncio.Event()

    async def slow(request: Any) -> Any:
        started.set()
        await go_on.wait()
        return reply("hi")

    class Slow:
        name = "slow"

        async def complete(self, request: Any, *, on_delta: Any = None) -> Any:
            return await slow(request)

    service.kernel._models = {"scripted": Slow()}  # type: ignore[assignment]
    turn = asyncio.create_task(service.send_message(agent.id, "hi"))
    await started.wait()
    other = AgentService(kernel=service.kernel)  # the operator writes the row directly
    fresh = await other.stores.agents.get(agent.id)
    fresh.name = "renamed"
    await other.stores.agents.save(fresh)
    go_on.set()
    await turn
    assert (await service.get_agent(agent.id)).name == "renamed"


async def test_events_come_in_order(service: AgentService, model: ScriptedModel) -> None:
    """Each committed message, the memory change, each step and the run, in that order."""
    agent = await service.create_agent("a", model="scripted")
    model.push(tool_call("core_memory_append", label="human", content="x", request_heartbeat=True),
               reply("done"))
    seen: list[Event] = []

    async def listen(event: Event) -> None:
        seen.append(event)

    await service.send_message(agent.id, "hi", on_event=listen)
    kinds = [type(e).__name__ for e in seen if not isinstance(e, Delta)]
    assert any(isinstance(e, Delta) for e in seen)  # the scripted model streams when listened to
    assert kinds == ["MessageSaved",  # the input
                     "MessageSaved", "MessageSaved", "MessageSaved", "MemoryChanged", "StepFinished",
                     "MessageSaved", "MessageSaved", "StepFinished", "RunFinished"]
    memory = next(e for e in seen if isinstance(e, MemoryChanged))
    assert memory.blocks == ["human"]
    steps = [e for e in seen if isinstance(e, StepFinished)]
    assert [s.stop_reason for s in steps] == [None, StopReason.END_TURN]
    run = seen[-1]
    assert isinstance(run, RunFinished) and run.steps == 2 and run.error is None
    saved = [e.message.seq for e in seen if isinstance(e, MessageSaved)]
    assert saved == sorted(saved) and len(set(saved)) == len(saved)


async def test_failed_run_reports_the_error(service: AgentService, model: ScriptedModel) -> None:
    """A model that fails ends the run with RunFinished(error) and re-raises."""
    agent = await service.create_agent("a", model="scripted")
    seen: list[Event] = []

    async def listen(event: Event) -> None:
        seen.append(event)

    with pytest.raises(ScriptExhaustedError):
        await service.send_message(agent.id, "hi", on_event=listen)  # the script is empty
    run = seen[-1]
    assert isinstance(run, RunFinished) and run.stop_reason is StopReason.ERROR
    assert run.error is not None and run.error.startswith("ScriptExhaustedError:")


async def test_two_processes_take_turns_through_the_lease(settings: Settings) -> None:
    """Two services (two kernels, as two processes would have) on one SQLite file never run
    one agent's turns at once, and each sees the other's messages."""
    inside = 0
    overlap = False

    class Probe:
        name = "probe"

        async def complete(self, request: Any, *, on_delta: Any = None) -> Any:
            nonlocal inside, overlap
            inside += 1
            overlap |= inside > 1
            await asyncio.sleep(0.02)
            inside -= 1
            return reply(f"seen {len(request.messages)}")

    first = AgentService(settings, models={"p": Probe()})
    second = AgentService(settings, models={"p": Probe()})
    async with first, second:
        agent = await first.create_agent("a", model="p")
        await asyncio.gather(*(svc.send_message(agent.id, f"m{i}")
                               for i in range(4) for svc in (first, second)))
        history = await first.list_messages(agent.id, limit=100)
    assert not overlap
    assert sum(m.role is Role.USER for m in history) == 8
    assert [m.seq for m in history] == list(range(len(history)))


async def test_a_dead_holders_lease_expires(service: AgentService, model: ScriptedModel) -> None:
    """A lease left by a crashed process stops blocking once it expires."""
    agent = await service.create_agent("a", model="scripted")
    unit = service.kernel.unit
    assert await unit.acquire(agent.id, "proc-dead", 1.0) is not None  # (long enough for a loaded CI)
    assert await unit.acquire(agent.id, service.kernel.holder, 60) is None  # held by the dead one
    await asyncio.sleep(1.1)
    model.push(reply("back"))
    assert (await service.send_message(agent.id, "hello")).replies == ["back"]


async def test_kept_agent_is_reloaded_after_another_writer(
    settings: Settings, model: ScriptedModel
) -> None:
    """A block edited through another service (another process) is what the next turn sees."""
    async with AgentService(settings, models={"scripted": model}) as first, \
            AgentService(settings, models={"scripted": model}) as second:
        agent = await first.create_agent("a", model="scripted")
        model.push(reply("one"), reply("two"))
        await first.send_message(agent.id, "hi")
        await second.update_block(agent.id, "human", value="Name: Grace")
        await first.send_message(agent.id, "again")
        assert "Name: Grace" in model.calls[-1].system


async def test_storage_works_again_after_close(settings: Settings, model: ScriptedModel) -> None:
    """A service closed in one event loop serves again when used from another (as a server
    started after a setup step does): the SQLite writer thread starts anew."""
    svc = AgentService(settings, models={"scripted": model})
    await svc.open()
    agent = await svc.create_agent("a", model="scripted")
    await svc.close()

    def elsewhere() -> list[str]:
        async def turn() -> list[str]:
            model.push(reply("still here"))
            try:
                return (await asyncio.wait_for(svc.send_message(agent.id, "hi"), 20)).replies
            finally:
                await svc.close()
        return asyncio.run(turn())

    assert await asyncio.to_thread(elsewhere) == ["still here"]


async def test_lease_of_a_dead_process_on_this_host_is_taken_over(
    service: AgentService, model: ScriptedModel
) -> None:
    """A process that died holding a lease (SIGKILL) does not stall the agent until the
    lease expires: its host and pid show it is gone."""
    import subprocess
    import sys

    from memgpt.services.kernel import LEASE_SECONDS, lease_holder_id

    agent = await service.create_agent("a", model="scripted")
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)
    host = lease_holder_id().split(":")[0]
    dead = f"{host}:{child.stdout.strip()}:deadbeef0000"
    assert await service.kernel.unit.acquire(agent.id, dead, LEASE_SECONDS) is not None
    model.push(reply("taken over"))
    result = await asyncio.wait_for(service.send_message(agent.id, "hi"), 10)
    assert result.replies == ["taken over"]
    assert await service.kernel.unit.holder(agent.id) is None  # released after the turn

    zombie = subprocess.Popen([sys.executable, "-c", "pass"])  # exited, not yet reaped
    try:
        await asyncio.sleep(0.5)
        assert await service.kernel.unit.acquire(agent.id, f"{host}:{zombie.pid}:deadbeef0001", LEASE_SECONDS) is not None
        model.push(reply("again"))
        result = await asyncio.wait_for(service.send_message(agent.id, "hi"), 10)
        assert result.replies == ["again"]
    finally:
        zombie.wait()
