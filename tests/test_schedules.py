"""Schedules and timed heartbeats: the real letta-client against ``memgpt server`` (whose
scheduler fires them), and the scheduler's pass (``run_due``, with an injected clock) over
SQLite and a real PostgreSQL shared by two services."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest
from letta_client import BadRequestError, Letta, NotFoundError

from memgpt import AgentService, ScriptedModel, Settings
from memgpt.core.errors import InvalidRequestError
from memgpt.core.schemas import Role, utcnow
from memgpt.llm.base import ModelRequest, ModelResponse
from memgpt.llm.scripted import reply, tool_call
from memgpt.memory.schedules import ScheduledInput
from memgpt.server import BackgroundServer
from letta_users import letta, two_users
from memgpt.services.schedules import CLAIM_SECONDS, Scheduler
from pg import PostgresServer


def _answer(request: ModelRequest) -> ModelResponse:
    return reply(f"noted: {request.messages[-1].text[:40]}")


def _heard(model: ScriptedModel, text: str) -> int:
    """How many model requests ended with text (the input the agent was woken with)."""
    return sum(1 for c in model.calls if c.messages and text in c.messages[-1].text)


@dataclass
class Users:
    """Two users of one server: ada and bob (the intruder), and the server's model."""

    ada: Letta
    bob: Letta
    model: ScriptedModel


@pytest.fixture
def users(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Users]:
    """A server requiring keys (scheduler polling every 0.2 s), keys for ada and bob."""
    model = ScriptedModel(policy=_answer)
    with two_users(settings, monkeypatch, model, scheduler_poll=0.2) as (url, ada_key, bob_key), \
            letta(url, ada_key) as ada, letta(url, bob_key) as bob:
        yield Users(ada, bob, model)


def _texts(client: Letta, agent_id: str) -> list[object]:
    return [getattr(m, "content", None) for m in client.agents.messages.list(agent_id).items]


def _wait_for(check: object, seconds: float = 10.0) -> None:
    """Poll check() until true (a deadline, not a timing assertion)."""
    deadline = time.monotonic() + seconds
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def test_one_time_schedule_fires_within_2_s_and_the_agent_answers(users: Users) -> None:
    """Due in 1 s: the message reaches the model and recall within 2 s of its time, the agent
    answers, and the schedule is gone (one-time schedules are removed once delivered)."""
    agent = users.ada.agents.create(name="clock", model="scripted")
    due_ms = time.time() * 1000 + 1000
    made = users.ada.agents.schedule.create(
        agent.id, schedule={"type": "one-time", "scheduled_at": due_ms},
        messages=[{"role": "user", "content": "time to stretch"}])
    assert made.next_scheduled_at is not None and made.next_scheduled_at.endswith("Z")
    shown = users.ada.agents.schedule.retrieve(made.id, agent_id=agent.id)
    assert shown.schedule.type == "one-time" and shown.message.messages[0].content == "time to stretch"

    _wait_for(lambda: _heard(users.model, "time to stretch") == 1)
    _wait_for(lambda: "noted: time to stretch" in _texts(users.ada, agent.id))
    history = users.ada.agents.messages.list(agent.id).items
    [delivered] = [m for m in history if getattr(m, "content", None) == "time to stretch"]
    assert 0 <= delivered.date.timestamp() * 1000 - due_ms < 2000  # delivered within 2 s of its time
    _wait_for(lambda: not users.ada.agents.schedule.list(agent.id).scheduled_messages)
    with pytest.raises(NotFoundError):
        users.ada.agents.schedule.retrieve(made.id, agent_id=agent.id)


def test_recurring_schedule_fires_on_its_cron_until_deleted(users: Users) -> None:
    """A per-second cron (six fields, seconds first) fires every second; a system-role
    message arrives as an event; deleting it stops it; bob sees none of it."""
    agent = users.ada.agents.create(name="ticker", model="scripted")
    made = users.ada.agents.schedule.create(
        agent.id, schedule={"type": "recurring", "cron_expression": "* * * * * *"},
        messages=[{"role": "system", "content": "tick"}])
    _wait_for(lambda: _heard(users.model, "tick") >= 2)
    assert any(c.messages[-1].role is Role.EVENT for c in users.model.calls if "tick" in c.messages[-1].text)
    listed = users.ada.agents.schedule.list(agent.id)
    assert [s.id for s in listed.scheduled_messages] == [made.id] and not listed.has_next_page
    assert listed.scheduled_messages[0].schedule.type == "recurring"

    for call in (lambda: users.bob.agents.schedule.list(agent.id),
                 lambda: users.bob.agents.schedule.retrieve(made.id, agent_id=agent.id),
                 lambda: users.bob.agents.schedule.delete(made.id, agent_id=agent.id),
                 lambda: users.bob.agents.schedule.create(
                     agent.id, schedule={"type": "recurring", "cron_expression": "* * * * *"},
                     messages=[{"role": "user", "content": "x"}])):
        with pytest.raises(NotFoundError):
            call()
    assert users.ada.agents.schedule.delete(made.id, agent_id=agent.id).success is True
    time.sleep(0.3)  # a firing under way finishes; none starts after
    fired = _heard(users.model, "tick")
    time.sleep(1.5)
    assert _heard(users.model, "tick") == fired
    assert users.ada.agents.schedule.list(agent.id).scheduled_messages == []


def test_bad_schedules_are_refused(users: Users) -> None:
    """A bad cron, a past time, an assistant message, an unknown agent: clear 4xx."""
    agent = users.ada.agents.create(name="strict", model="scripted")
    hello = [{"role": "user", "content": "hello"}]
    for schedule, messages, words in (
        ({"type": "recurring", "cron_expression": "61 * * * *"}, hello, "invalid cron"),
        ({"type": "recurring", "cron_expression": "0 0 30 2 *"}, hello, "invalid cron"),
        ({"type": "one-time", "scheduled_at": time.time() * 1000 - 60_000}, hello, "in the past"),
        ({"type": "one-time", "scheduled_at": 1e30}, hello, "out of range"),
        ({"type": "one-time", "scheduled_at": time.time() * 1000 + 60_000},
         [{"role": "assistant", "content": "hi"}], "assistant"),
    ):
        with pytest.raises(BadRequestError, match=words):
            users.ada.agents.schedule.create(agent.id, schedule=schedule, messages=messages)  # type: ignore[arg-type]
    with pytest.raises(NotFoundError):
        users.ada.agents.schedule.create("agent-nope", schedule={"scheduled_at": time.time() * 1000 + 9e6},
                                         messages=hello)  # type: ignore[arg-type]
    with pytest.raises(BadRequestError, match="limit"):
        users.ada.agents.schedule.list(agent.id, limit="many")
    assert users.ada.agents.schedule.list(agent.id).scheduled_messages == []


async def test_missed_firings_catch_up_once_and_survive_a_restart(settings: Settings) -> None:
    """Stored schedules outlive the service. A recurring one whose times were all missed
    fires once, then resumes its cron; a missed one-time one fires once and is removed."""
    model = ScriptedModel(policy=_answer)
    async with AgentService(settings, models={"scripted": model}) as first:
        await first.create_agent("sleeper", model="scripted")
        daily = await first.create_schedule("sleeper", [ScheduledInput(text="daily review")], cron="0 9 * * *")
        soon = await first.create_schedule("sleeper", [ScheduledInput(text="one reminder")],
                                           at=utcnow() + timedelta(minutes=5))
        assert await Scheduler(first).run_due() == []  # nothing due yet
    assert daily.next_at is not None and daily.next_at.hour == 9

    later = daily.next_at + timedelta(days=3, hours=2)  # three 9:00s and the reminder missed
    async with AgentService(settings, models={"scripted": model}) as second:
        fired = await Scheduler(second).run_due(later)
        assert sorted(f.outcome for f in fired) == ["fired", "fired"]
        assert _heard(model, "daily review") == 1 and _heard(model, "one reminder") == 1
        page = await second.list_schedules("sleeper")
        [kept] = page.items
        assert kept.id == daily.id and not page.has_more and kept.firings == 1
        assert kept.next_at == (later + timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
        assert await Scheduler(second).run_due(later) == []
        with pytest.raises(Exception, match="no scheduled message"):
            await second.get_schedule("sleeper", soon.id)
        with pytest.raises(InvalidRequestError, match="cron"):
            await second.create_schedule("sleeper", [ScheduledInput(text="x")], cron="every day")


async def test_two_schedulers_on_one_postgres_fire_once(postgres: PostgresServer, tmp_path: object) -> None:
    """Two services (two processes' schedulers) on one PostgreSQL, passing at the same
    moment: the firing is claimed and delivered once. A claimer that dies before delivering
    is replaced once its claim lapses."""
    url = await postgres.database()
    model = ScriptedModel(policy=_answer)
    settings = [Settings(home=tmp_path / f"h{i}", database_url=url) for i in range(2)]  # type: ignore[operator]
    async with AgentService(settings[0], models={"scripted": model}) as a, \
            AgentService(settings[1], models={"scripted": model}) as b:
        await a.create_agent("shared", model="scripted")
        now = utcnow()
        await a.create_schedule("shared", [ScheduledInput(text="exactly once")], at=now)
        for _ in range(3):
            results = await asyncio.gather(Scheduler(a).run_due(now + timedelta(seconds=1)),
                                           Scheduler(b).run_due(now + timedelta(seconds=1)))
            assert sum(len(r) for r in results) <= 1
        assert _heard(model, "exactly once") == 1
        assert [m.text for m in await a.list_messages("shared")].count("exactly once") == 1

        # a claimer that dies between its claim and the delivery: b fires once the claim lapses
        await a.create_schedule("shared", [ScheduledInput(text="after a crash")], cron="0 9 * * *")
        due = (await a.list_schedules("shared")).items[0].next_at
        assert due is not None
        assert len(await Scheduler(a).claim_due(due)) == 1  # ...and a "crashes"
        assert await Scheduler(b).run_due(due + timedelta(seconds=1)) == []  # still claimed
        [fired] = await Scheduler(b).run_due(due + timedelta(seconds=CLAIM_SECONDS + 1))
        assert fired.outcome == "fired" and _heard(model, "after a crash") == 1


async def test_redelivery_of_a_committed_firing_is_skipped(service: AgentService, model: ScriptedModel) -> None:
    """The firing's message id is fixed by schedule and due time: if recall holds it (the
    input was committed before a crash), claiming it again delivers nothing."""
    model.policy = _answer
    await service.create_agent("once", model="scripted")
    made = await service.create_schedule("once", [ScheduledInput(text="only one")], cron="0 9 * * *")
    assert made.next_at is not None
    [claimed] = await Scheduler(service).claim_due(made.next_at)
    first = await Scheduler(service)._deliver_firing(claimed, made.next_at)  # delivered, then "crash"
    assert first.outcome == "fired" and len(first.results) == 1
    await service.schedule_store.postpone(made.id, service.kernel.holder, made.next_at)  # claim lapses
    [again] = await Scheduler(service).run_due(made.next_at + timedelta(seconds=1))
    assert again.outcome == "fired" and again.results == ()
    assert _heard(model, "only one") == 1
    assert [m.text for m in await service.list_messages("once")].count("only one") == 1


async def test_timed_heartbeats_fire_unless_paused(settings: Settings) -> None:
    """With MEMGPT_HEARTBEAT_INTERVAL on, each agent is woken by a heartbeat event every
    interval; after pause_heartbeats the due ones are skipped until the pause ends."""
    model = ScriptedModel()
    on = settings.model_copy(update={"heartbeat_interval": 60.0})
    async with AgentService(on, models={"scripted": model}) as svc:
        await svc.create_agent("dreamer", model="scripted")
        start = utcnow()
        assert await Scheduler(svc).run_due(start) == []  # its heartbeat is made, due in a minute
        model.push(reply("hello"))
        [beat] = await Scheduler(svc).run_due(start + timedelta(seconds=61))
        assert beat.outcome == "fired" and _heard(model, "heartbeat: timed wake-up") == 1
        assert model.calls[-1].messages[-1].role is Role.EVENT

        model.push(tool_call("pause_heartbeats", minutes=30))  # the agent pauses them in a turn
        await svc.send_message("dreamer", "rest a while")
        paused = (await svc.get_agent("dreamer")).heartbeats_paused_until
        assert paused is not None and paused > utcnow() + timedelta(minutes=29)
        [skipped] = await Scheduler(svc).run_due(start + timedelta(seconds=122))
        assert skipped.outcome == "skipped" and len(model.calls) == 2  # the model was not woken
        assert await Scheduler(svc).run_due(start + timedelta(minutes=10)) == []  # next due: the pause's end
        model.push(reply("awake again"))
        [resumed] = await Scheduler(svc).run_due(paused + timedelta(seconds=1))
        assert resumed.outcome == "fired" and _heard(model, "heartbeat: timed wake-up") == 2
        assert (await svc.list_schedules("dreamer")).items == []  # heartbeats are not listed

    off = ScriptedModel()
    async with AgentService(settings, models={"scripted": off}) as svc:  # off by default
        assert await Scheduler(svc).run_due(utcnow() + timedelta(days=1)) == [] and off.calls == []


def test_schedule_times_are_utc() -> None:
    """Unix ms and cron are UTC (no local zone creeps in)."""
    from memgpt.memory.schedules import from_unix_ms, next_cron, one_time_at

    now = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
    assert next_cron("@daily", now) == datetime(2026, 3, 2, tzinfo=timezone.utc)
    assert one_time_at(from_unix_ms(now.timestamp() * 1000), now) == now
    assert one_time_at(now.replace(tzinfo=None), now) == now  # naive is UTC


def test_cli_adds_lists_and_deletes_schedules(settings: Settings) -> None:
    """`memgpt schedule add|list|delete`; a bad cron is an error, not a traceback."""
    from typer.testing import CliRunner

    from memgpt.cli.main import app

    async def make_agent() -> None:
        async with AgentService(settings, models={"scripted": ScriptedModel()}) as svc:
            await svc.create_agent("cli-agent", model="scripted")

    asyncio.run(make_agent())
    runner, home = CliRunner(), ["--home", str(settings.home)]
    added = runner.invoke(app, ["schedule", "add", "cli-agent", "water the plants", "--cron", "0 9 * * *", *home])
    assert added.exit_code == 0, added.output
    schedule_id = added.output.split()[0]
    once = runner.invoke(app, ["schedule", "add", "cli-agent", "call mum", "--in", "3600", "--system", *home])
    assert once.exit_code == 0, once.output
    listed = runner.invoke(app, ["schedule", "list", "cli-agent", *home])
    assert schedule_id in listed.output and "0 9 * * *" in listed.output and "call mum" in listed.output
    bad = runner.invoke(app, ["schedule", "add", "cli-agent", "x", "--cron", "61 * * * *", *home])
    assert bad.exit_code == 1 and "invalid cron" in bad.output
    gone = runner.invoke(app, ["schedule", "delete", "cli-agent", schedule_id, *home])
    assert gone.exit_code == 0 and schedule_id not in runner.invoke(app, ["schedule", "list", "cli-agent", *home]).output


async def test_an_event_for_a_busy_agent_waits_for_its_turn(service: AgentService, model: ScriptedModel) -> None:
    """A system event posted while the agent is in a turn goes through the same path as a
    message (the agent's lease): it is delivered after that turn, not dropped."""
    release = asyncio.Event()

    async def slow(request: ModelRequest) -> ModelResponse:
        if request.messages[-1].text == "think hard":
            await release.wait()
        return _answer(request)

    model.policy = slow
    await service.create_agent("busy", model="scripted")
    turn = asyncio.create_task(service.send_message("busy", "think hard"))
    while not model.calls:
        await asyncio.sleep(0.01)
    event = asyncio.create_task(service.send_event("busy", "the oven timer rang"))
    await asyncio.sleep(0.1)
    assert not event.done()  # waiting for the turn, not refused
    release.set()
    await turn
    result = await event
    assert result.input.role is Role.EVENT
    texts = [m.text for m in await service.list_messages("busy")]
    assert texts.index("the oven timer rang") > texts.index("think hard")


def test_a_schedule_survives_a_server_restart(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Made on one server, stopped before it was due; a new server (new service and app) on
    the same database lists it and delivers it."""
    for var in ("LETTA_BASE_URL", "LETTA_API_KEY", "LETTA_CUSTOM_HEADERS"):
        monkeypatch.delenv(var, raising=False)
    served = settings.model_copy(update={"model": "scripted", "scheduler_poll": 0.2})

    def server(model: ScriptedModel) -> BackgroundServer:
        return BackgroundServer(AgentService(served, models={"scripted": model}))

    first_model, second_model = ScriptedModel(policy=_answer), ScriptedModel(policy=_answer)
    with server(first_model) as first, Letta(base_url=first.url, api_key="local", max_retries=0) as letta:
        agent = letta.agents.create(name="patient", model="scripted")
        made = letta.agents.schedule.create(
            agent.id, schedule={"type": "one-time", "scheduled_at": time.time() * 1000 + 3000},
            messages=[{"role": "user", "content": "after the restart"}])
    assert first_model.calls == []
    with server(second_model) as second, Letta(base_url=second.url, api_key="local", max_retries=0) as letta:
        assert letta.agents.schedule.retrieve(made.id, agent_id=agent.id).id == made.id
        _wait_for(lambda: _heard(second_model, "after the restart") == 1)
        _wait_for(lambda: "noted: after the restart" in _texts(letta, agent.id))
