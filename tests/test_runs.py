"""Runs with the real letta-client (async) against memgpt's app served in the test's loop, the
agent's model scripted: async runs polled to completion, cancel mid-chain, queued sends
delivered in order, a crashed run failed with its input kept, callbacks, resumed streams."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from letta_client import AsyncLetta, NotFoundError
from letta_client.types import ToolReturnMessage
from letta_client.types.agents import AssistantMessage, Run, UserMessage

from memgpt import AgentService, ScriptedModel, Settings
from memgpt.core.schemas import Role
from memgpt.llm.base import ModelRequest, ModelResponse
from memgpt.llm.scripted import reply, tool_call
from memgpt.memory.runs import INTERRUPTED
from memgpt.server import create_app
from memgpt.services import kernel as kernel_mod
from memgpt.services import run_tracking
from serve import recording_hook, serving_app, until


@dataclass
class Env:
    client: AsyncLetta
    service: AgentService
    model: ScriptedModel
    url: str


@pytest.fixture
async def env(settings: Settings, model: ScriptedModel) -> AsyncIterator[Env]:
    """The app on a loopback port in this loop, and an async Letta client on it."""
    service = AgentService(settings, models={"scripted": model})
    async with serving_app(create_app(service, own_service=True)) as url:
        async with AsyncLetta(base_url=url, max_retries=0, timeout=30,
                              _strict_response_validation=True) as client:
            yield Env(client, service, model, url)



async def finished(client: AsyncLetta, run_id: str) -> Run:
    """The run once it is no longer created or running."""
    async def done() -> bool:
        return (await client.runs.retrieve(run_id)).status not in ("created", "running")
    await until(done, f"run {run_id} finished")
    return await client.runs.retrieve(run_id)


def gate(model: ScriptedModel, then: Callable[[ModelRequest], ModelResponse]) -> tuple[asyncio.Event, asyncio.Event]:
    """Make the model's policy wait: (started, release) events around each policy answer."""
    started, release = asyncio.Event(), asyncio.Event()

    async def policy(request: ModelRequest) -> ModelResponse:
        started.set()
        await release.wait()
        return then(request)

    model.policy = policy
    return started, release


def last_user_text(request: ModelRequest) -> str:
    return [m for m in request.messages if m.role is Role.USER][-1].text


async def test_async_run_polled_to_completion(env: Env) -> None:
    """create_async returns the run at once; polled to completed, its messages, steps and
    usage are listed, each step and message naming the run; feedback is stored."""
    c = env.client
    agent = await c.agents.create(name="runner", model="scripted")
    env.model.push(
        tool_call("core_memory_append", label="human", content="Likes owls", request_heartbeat=True),
        reply("Noted: owls."),
    )
    run = await c.agents.messages.create_async(agent.id, messages=[{"role": "user", "content": "I like owls"}])
    assert run.status in ("created", "running") and run.agent_id == agent.id and run.background
    run = await finished(c, run.id)
    assert run.status == "completed" and run.stop_reason == "end_turn" and run.completed_at is not None

    messages = [m async for m in c.runs.messages.list(run.id)]
    assert isinstance(messages[0], UserMessage) and messages[0].content == "I like owls"
    assert any(isinstance(m, AssistantMessage) and m.content == "Noted: owls." for m in messages)
    assert any(isinstance(m, ToolReturnMessage) for m in messages)
    assert {m.run_id for m in messages} == {run.id}

    steps = [s async for s in c.runs.steps.list(run.id)]
    assert len(steps) == 2 and {s.run_id for s in steps} == {run.id}
    assert steps[0].stop_reason is None and steps[1].stop_reason == "end_turn"
    usage = await c.runs.usage.retrieve(run.id)
    assert usage.total_tokens == sum(s.total_tokens or 0 for s in steps) > 0

    listed = [r.id async for r in c.runs.list(agent_id=agent.id)]
    assert run.id in listed
    assert [r.id async for r in c.runs.list(agent_id=agent.id, active=True)] == []
    assert [s.id async for s in c.steps.list(agent_id=agent.id, order="asc")] == [s.id for s in steps]
    step = await c.steps.retrieve(steps[1].id)
    said = [m async for m in c.steps.messages.list(step.id)]
    assert [type(m) for m in said] == [AssistantMessage] and said[0].run_id == run.id
    await c.steps.feedback.create(step.id, feedback="positive", tags=["good"])
    assert (await c.steps.retrieve(step.id)).feedback == "positive"
    assert [s.id async for s in c.steps.list(feedback="positive")] == [step.id]
    assert (await c.steps.metrics.retrieve(step.id)).run_id == run.id
    assert await c.runs.trace.retrieve(run.id) == []
    assert await c.steps.trace.retrieve(step.id) is None


async def test_sync_sends_are_runs_too(env: Env) -> None:
    """A direct send and a streamed one each leave a completed run with their steps."""
    c = env.client
    agent = await c.agents.create(name="direct", model="scripted")
    env.model.push(reply("one"), reply("two"))
    await c.agents.messages.create(agent.id, messages=[{"role": "user", "content": "first"}])
    stream = await c.agents.messages.stream(agent.id, messages=[{"role": "user", "content": "second"}])
    async for _ in stream:
        pass
    runs = [r async for r in c.runs.list(agent_id=agent.id, order="asc")]
    assert [r.status for r in runs] == ["completed", "completed"] and not any(r.background for r in runs)
    for r in runs:
        assert len([s async for s in c.runs.steps.list(r.id)]) == 1
    first = [m async for m in c.runs.messages.list(runs[0].id)]
    assert first[0].content == "first" and first[-1].content == "one"  # type: ignore[union-attr]


async def test_cancel_mid_chain_then_agent_answers(env: Env) -> None:
    """Cancelled while its second model call is under way, the run stops after that step
    (stop reason cancelled, both steps kept); the next message is answered normally."""
    c, model = env.client, env.model
    agent = await c.agents.create(name="chainer", model="scripted")
    model.push(tool_call("conversation_search", query="owls", request_heartbeat=True))
    started, release = gate(model, lambda _: tool_call("conversation_search", query="more", request_heartbeat=True))
    run = await c.agents.messages.create_async(agent.id, input="search forever")
    await started.wait()
    assert (await c.runs.retrieve(run.id)).status == "running"
    assert await c.agents.messages.cancel(agent.id) == {run.id: "cancelled"}
    release.set()
    run = await finished(c, run.id)
    assert run.status == "cancelled" and run.stop_reason == "cancelled"
    assert len([s async for s in c.runs.steps.list(run.id)]) == 2

    model.policy = None
    model.push(reply("Hello again."))
    answer = await c.agents.messages.create(agent.id, input="are you there?")
    assert [m.content for m in answer.messages if isinstance(m, AssistantMessage)] == ["Hello again."]
    request = model.calls[-1]
    calls = {p.id for m in request.messages for p in m.tool_calls}
    results = {r.call_id for m in request.messages for r in m.tool_results}
    assert calls and calls == results  # every call of the cancelled chain has its result


async def test_queued_sends_are_delivered_in_order(env: Env) -> None:
    """Two async sends made while a turn runs wait their turn and run in order; a created
    run cancelled before it starts never runs."""
    c, model = env.client, env.model
    agent = await c.agents.create(name="busy", model="scripted")
    started, release = gate(model, lambda r: reply(f"echo: {last_user_text(r)}"))
    busy = asyncio.create_task(c.agents.messages.create(agent.id, input="zero"))
    await started.wait()
    first = await c.agents.messages.create_async(agent.id, input="one")
    dropped = await c.agents.messages.create_async(agent.id, input="dropped")
    second = await c.agents.messages.create_async(agent.id, input="two")
    assert (await c.runs.retrieve(first.id)).status == "created"
    assert await c.agents.messages.cancel(agent.id, run_ids=[dropped.id]) == {dropped.id: "cancelled"}
    release.set()
    await busy
    assert (await finished(c, first.id)).status == "completed"
    assert (await finished(c, second.id)).status == "completed"
    assert (await c.runs.retrieve(dropped.id)).status == "cancelled"
    assert [last_user_text(r) for r in model.calls] == ["zero", "one", "two"]
    said = [m.content async for m in c.agents.messages.list(agent.id, order="asc")
            if isinstance(m, AssistantMessage)]
    assert said == ["echo: zero", "echo: one", "echo: two"]


async def test_run_stream_resumes_from_a_seq(env: Env) -> None:
    """A run's stream resumed mid-run replays what is stored after the seq, then tails the
    live run to its stop reason and usage."""
    c, model = env.client, env.model
    agent = await c.agents.create(name="streamer", model="scripted")
    model.push(tool_call("conversation_search", query="owls", request_heartbeat=True))
    started, release = gate(model, lambda _: reply("All done."))
    run = await c.agents.messages.create_async(agent.id, input="look it up")
    await started.wait()
    stored = [m async for m in c.runs.messages.list(run.id)]
    first_seq = min(m.seq_id for m in stored if m.seq_id is not None)

    async def read(after: int) -> list[Any]:
        return [chunk async for chunk in await c.runs.messages.stream(run.id, starting_after=after)]

    live = asyncio.create_task(read(first_seq))  # skips the input, replays step one, tails
    await asyncio.sleep(0)
    release.set()
    chunks = await live
    kinds = [getattr(x, "message_type", None) for x in chunks]
    assert kinds[-2:] == ["stop_reason", "usage_statistics"]
    assert "tool_call_message" in kinds and "tool_return_message" in kinds
    assert [x.content for x in chunks if isinstance(x, AssistantMessage)] == ["All done."]
    tool_seq = max(x.seq_id for x in chunks if getattr(x, "message_type", "") == "tool_return_message")
    again = await read(tool_seq)  # finished run: only what came after, then the end
    assert [getattr(x, "message_type", None) for x in again] == [
        "assistant_message", "stop_reason", "usage_statistics"]


async def test_callback_is_posted(env: Env) -> None:
    """callback_url gets the finished run by POST; a callback that fails is recorded only."""
    hook, got = recording_hook()

    c = env.client
    agent = await c.agents.create(name="caller", model="scripted")
    env.model.push(reply("called back"), reply("again"))
    async with serving_app(hook) as hook_url:
        run = await c.agents.messages.create_async(agent.id, input="call me", callback_url=f"{hook_url}/hook")

        async def sent() -> bool:
            return (await c.runs.retrieve(run.id)).callback_status_code is not None
        await until(sent, "callback sent")
    done = await c.runs.retrieve(run.id)
    assert done.callback_status_code == 200 and done.callback_error is None and done.callback_sent_at
    assert got == [got[0]] and got[0]["id"] == run.id and got[0]["status"] == "completed"
    # the hook server is gone now: the run still completes, the failure is recorded
    failing = await c.agents.messages.create_async(agent.id, input="again", callback_url=f"{hook_url}/hook")

    async def recorded() -> bool:
        return (await c.runs.retrieve(failing.id)).callback_error is not None
    await until(recorded, "callback failure recorded")
    assert (await c.runs.retrieve(failing.id)).status == "completed"


async def test_crashed_run_ends_failed_with_input_kept(settings: Settings) -> None:
    """A run whose process died mid-turn (simulated: its holder id no longer alive) is
    failed by the next service on the same database, its input kept; the agent goes on."""
    hung = ScriptedModel()
    started, _release = gate(hung, lambda _: reply("never"))
    first = AgentService(settings, models={"scripted": hung})
    await first.open()
    agent = await first.create_agent("crashy", model="scripted")
    run = await first.send_async(agent.id, "remember the lighthouse")
    await started.wait()
    kernel_mod._OURS.discard(first.kernel.holder)  # as if its process had died
    try:
        fresh = ScriptedModel([reply("I am back.")])
        async with AgentService(settings, models={"scripted": fresh}) as second:
            after = await second.get_run(run.id)
            assert after.status == "failed" and after.error == INTERRUPTED
            kept = await second.run_messages(run.id)
            assert [m.text for m in kept] == ["remember the lighthouse"]
            result = await second.send_message(agent.id, "hello?")
            assert result.replies == ["I am back."]
            assert fresh.calls[-1].messages[1].text == "remember the lighthouse"
            assert (await second.get_run(run.id)).status == "failed"
    finally:
        for task in run_tracking.live(first.kernel).workers.values():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await first.close()


async def test_other_users_runs_are_not_found(settings: Settings, model: ScriptedModel) -> None:
    """Bob gets 404 for Alice's runs and steps, as for ids that never existed."""
    async with AgentService(settings) as admin:
        alice_key = (await admin.create_api_key("alice"))[1]
        bob_key = (await admin.create_api_key("bob"))[1]
    service = AgentService(settings, models={"scripted": model})
    model.push(reply("secret answer"))
    async with serving_app(create_app(service, own_service=True, require_key=True)) as url:
        async with AsyncLetta(base_url=url, api_key=alice_key, max_retries=0) as alice, \
                AsyncLetta(base_url=url, api_key=bob_key, max_retries=0) as bob:
            agent = await alice.agents.create(name="private", model="scripted")
            run = await finished(alice, (await alice.agents.messages.create_async(agent.id, input="hi")).id)
            step = [s async for s in alice.runs.steps.list(run.id)][0]
            for call in (bob.runs.retrieve(run.id), bob.runs.usage.retrieve(run.id),
                         bob.steps.retrieve(step.id), bob.steps.feedback.create(step.id, feedback="negative"),
                         bob.agents.messages.cancel(agent.id)):
                with pytest.raises(NotFoundError):
                    await call
            assert [r async for r in bob.runs.list()] == [] and [s async for s in bob.steps.list()] == []
            assert (await alice.steps.retrieve(step.id)).feedback is None


async def test_cancel_from_another_process_stops_the_chain(settings: Settings) -> None:
    """A cancel sent to another service on the same database (another server process) stops
    the run: the flag is read with each step's commit, so the chain ends one step later than
    an in-process cancel (its steps kept, the run cancelled, the agent free again)."""
    model = ScriptedModel([tool_call("conversation_search", query="owls", request_heartbeat=True)])
    started, release = gate(model, lambda _: tool_call("conversation_search", query="more", request_heartbeat=True))
    async with AgentService(settings, models={"scripted": model}) as runner, \
            AgentService(settings, models={"scripted": ScriptedModel()}) as other:
        agent = await runner.create_agent("far", model="scripted")
        run = await runner.send_async(agent.id, "search forever")
        await started.wait()  # the second model call is under way in the runner's process
        assert await other.cancel_runs(agent.id) == {run.id: "cancelled"}
        release.set()

        async def ended() -> bool:
            return not (await other.get_run(run.id)).active
        await until(ended, "the run ended")
        done = await other.get_run(run.id)
        assert done.status == "cancelled" and done.stop_reason == "cancelled"
        assert done.step_count == 3 and len(await other.list_steps(run_id=run.id)) == 3
        model.policy = None
        model.push(reply("Still here."))
        assert (await runner.send_message(agent.id, "hello?")).replies == ["Still here."]
