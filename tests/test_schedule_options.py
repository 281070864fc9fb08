"""A schedule's ``max_steps`` bounds each delivered turn, and its ``callback_url`` is POSTed
the delivered message's finished run, under the outbound URL policy (memgpt/core/urls.py)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from memgpt import AgentService, ScriptedModel, Settings
from memgpt.core.errors import InvalidRequestError
from memgpt.core.schemas import StopReason, utcnow
from memgpt.llm.base import ModelRequest, ModelResponse
from memgpt.llm.scripted import reply, tool_call
from memgpt.memory.schedules import ScheduledInput
from memgpt.services.schedules import Scheduler
from serve import recording_hook, serving_app, until


def _endless(request: ModelRequest) -> ModelResponse:
    """A model that always asks for another step (each call differs: no breaker)."""
    return tool_call("conversation_search", query=f"q{len(request.messages)}", request_heartbeat=True)


async def test_max_steps_bounds_each_delivered_turn(settings: Settings) -> None:
    model = ScriptedModel(policy=_endless)
    async with AgentService(settings, models={"scripted": model}) as service:
        await service.create_agent("busy", model="scripted")
        made = await service.create_schedule("busy", [ScheduledInput(text="work")],
                                             at=utcnow() + timedelta(minutes=1), max_steps=2)
        assert made.max_steps == 2
        [firing] = await Scheduler(service).run_due(utcnow() + timedelta(minutes=2))
    [result] = firing.results
    assert firing.outcome == "fired" and len(result.steps) == 2
    assert result.steps[-1].stop_reason == StopReason.MAX_STEPS


async def test_callback_gets_the_delivered_run(settings: Settings) -> None:
    hook, got = recording_hook()

    model = ScriptedModel()
    model.push(reply("on it"))
    async with AgentService(settings, models={"scripted": model}) as service, serving_app(hook) as hook_url:
        agent = await service.create_agent("called", model="scripted")
        await service.create_schedule("called", [ScheduledInput(text="ping")], at=utcnow() + timedelta(minutes=1),
                                      callback_url=f"{hook_url}/hook")
        [firing] = await Scheduler(service).run_due(utcnow() + timedelta(minutes=2))
        assert firing.outcome == "fired"
        for _ in range(2000):
            [run] = await service.list_runs(agent.id)
            if run.callback_status_code is not None:
                break
            await asyncio.sleep(0.01)
    assert run.callback_status_code == 200 and run.callback_error is None
    assert len(got) == 1 and got[0]["id"] == run.id and got[0]["status"] == "completed"


async def test_callback_finds_its_run_behind_newer_ones(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """The delivered message's run is found by its input, however many runs the agent made
    since (here 21, made between the delivery and the callback)."""
    hook, got = recording_hook()
    model = ScriptedModel(policy=lambda request: reply("ok"))
    callback = Scheduler._callback

    async def after_others(scheduler: Scheduler, schedule: Any, result: Any) -> None:
        for i in range(21):
            await scheduler.service.send_message(schedule.agent_id, f"other {i}")
        await callback(scheduler, schedule, result)

    monkeypatch.setattr(Scheduler, "_callback", after_others)
    async with AgentService(settings, models={"scripted": model}) as service, serving_app(hook) as hook_url:
        agent = await service.create_agent("busy caller", model="scripted")
        await service.create_schedule(agent.id, [ScheduledInput(text="ping")], at=utcnow() + timedelta(minutes=1),
                                      callback_url=f"{hook_url}/hook")
        [firing] = await Scheduler(service).run_due(utcnow() + timedelta(minutes=2))
        [result] = firing.results

        async def posted() -> bool:
            return bool(got)
        await until(posted, "the callback was posted")
        runs = await service.list_runs(agent.id, limit=50)
    [delivered] = [r for r in runs if r.input_id == result.input.id]
    assert len(runs) == 22 and [g["id"] for g in got] == [delivered.id]


async def test_private_callback_refused_at_create(settings: Settings) -> None:
    public_only = settings.model_copy(update={"mcp_private_urls": False})
    async with AgentService(public_only, models={"scripted": ScriptedModel()}) as service:
        await service.create_agent("a", model="scripted")
        with pytest.raises(InvalidRequestError, match="non-public"):
            await service.create_schedule("a", [ScheduledInput(text="x")], at=utcnow() + timedelta(minutes=1),
                                          callback_url="http://169.254.169.254/latest")
        assert (await service.list_schedules("a")).items == []
