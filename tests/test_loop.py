"""The agent loop: heartbeat chains, error results, the breaker and the step budget."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from memgpt import AgentService, ScriptedModel, Settings
from memgpt.llm.scripted import raw_tool_call, reply, text, tool_call
from memgpt.core.schemas import Block, Role, SendResult, utcnow


def tool_results(result: SendResult) -> list[tuple[str, str, bool]]:
    """(tool name, content, is_error) for every tool result of a send."""
    return [(r.name, r.content, r.is_error) for m in result.messages for r in m.tool_results]


async def test_heartbeat_chain_persists_across_restart(settings: Settings) -> None:
    """A fact goes into core memory via a heartbeat chain and survives a new process."""
    model = ScriptedModel([
        tool_call("core_memory_append", thinking="Worth remembering.", label="human",
                  content="Favourite tea: genmaicha.", request_heartbeat=True),
        reply("Noted: genmaicha it is.", thinking="Confirm to the user."),
    ])
    async with AgentService(settings, models={"scripted": model}) as svc:
        agent = await svc.create_agent("tea", model="scripted")
        result = await svc.send_message(agent.id, "My favourite tea is genmaicha.")
    assert [s.heartbeat for s in result.steps] == [True, False]
    assert result.replies == ["Noted: genmaicha it is."]
    assert result.steps[0].messages[0].reasoning == "Worth remembering."
    assert "genmaicha" not in " ".join(result.steps[0].messages[0].sent_messages())
    # the second call saw the heartbeat event and the edited block
    second = model.calls[1]
    assert second.messages[-1].role is Role.EVENT and "heartbeat" in second.messages[-1].text
    assert "Favourite tea: genmaicha." in second.system
    async with AgentService(settings, models={"scripted": ScriptedModel()}) as fresh:
        block = await fresh.get_block("tea", "human")
        assert block.value.endswith("Favourite tea: genmaicha.")
        history = await fresh.list_messages("tea")
    assert [m.role for m in history] == [
        Role.USER, Role.ASSISTANT, Role.TOOL, Role.EVENT, Role.ASSISTANT, Role.TOOL,
    ]


async def test_resumed_agent_sends_same_context(settings: Settings) -> None:
    """A new process builds exactly the request the old one would have built."""
    first = ScriptedModel([reply("one"), reply("two")])
    async with AgentService(settings, models={"scripted": first}) as svc:
        await svc.create_agent("r", model="scripted")
        await svc.send_message("r", "hello")
        await svc.send_message("r", "again")
    second = ScriptedModel([reply("three")])
    async with AgentService(settings, models={"scripted": second}) as svc:
        await svc.send_message("r", "third time")
    before = first.calls[-1]
    after = second.calls[0]
    assert after.system == before.system  # not recompiled: memory did not change
    assert [m.id for m in after.messages[1:len(before.messages)]] == [
        m.id for m in before.messages[1:]
    ]


async def _send_with(service: AgentService, model: ScriptedModel, *responses: object) -> SendResult:
    model.push(*responses)  # type: ignore[arg-type]
    return await service.send_message("e", "do the thing")


@pytest.fixture
async def errand(service: AgentService) -> AgentService:
    """An agent named "e" with a small, a read-only and a normal block."""
    await service.create_agent("e", model="scripted", blocks=[
        Block(label="human", value="Name: Bo", limit=40),
        Block(label="rules", value="Be kind.", read_only=True),
    ])
    return service


@pytest.mark.parametrize(
    ("bad_call", "expected"),
    [
        (tool_call("core_memory_append", label="human", content="x" * 60, request_heartbeat=False),
         "over its limit of 40"),
        (tool_call("core_memory_append", label="rules", content="Be rude.", request_heartbeat=False),
         "read-only"),
        (tool_call("core_memory_replace", label="human", old_content="Name: Al", new_content="Name: Cy",
                   request_heartbeat=False), "was not found"),
        (tool_call("core_memory_replace", label="human", old_content="Bo", new_content="B" + "o" * 60,
                   request_heartbeat=False), "over its limit of 40"),
        (tool_call("core_memory_replace", label="rules", old_content="kind", new_content="rude",
                   request_heartbeat=False), "read-only"),
        (tool_call("core_memory_append", label="nope", content="hi", request_heartbeat=False),
         "no memory block labelled 'nope'"),
        (raw_tool_call("core_memory_append", '{"label": "human", "content": "Likes jazz"'),
         "not valid JSON"),
        (raw_tool_call("core_memory_append", '["human", "Likes jazz"]'), "must be a JSON object"),
        (tool_call("launch_rockets", count=3), "Unknown function 'launch_rockets'"),
        (tool_call("core_memory_append", label="human", request_heartbeat=True),
         "missing required argument 'content'"),
        (tool_call("core_memory_append", label="human", content="a", colour="red"),
         "unexpected argument 'colour'"),
        (tool_call("archival_memory_search", query="x", page="two"), "argument 'page'"),
        (tool_call("conversation_search_date", start_date="yesterday", end_date="2026-01-01"),
         "not a date"),
    ],
)
async def test_bad_calls_return_errors_and_loop_goes_on(
    errand: AgentService, model: ScriptedModel, bad_call: object, expected: str
) -> None:
    """Each kind of bad call becomes an error result; the model gets another step."""
    before = {b.label: b.value for b in await errand.list_blocks("e")}
    result = await _send_with(errand, model, bad_call, reply("Sorry, fixed."))
    name, content, is_error = tool_results(result)[0]
    assert is_error and expected.lower() in content.lower(), content
    assert result.steps[0].heartbeat  # a failed call continues the chain
    assert "failed" in result.steps[0].messages[-1].text
    assert result.replies == ["Sorry, fixed."]
    assert {b.label: b.value for b in await errand.list_blocks("e")} == before
    history = await errand.list_messages("e")
    assert [m.role for m in history] == [
        Role.USER, Role.ASSISTANT, Role.TOOL, Role.EVENT, Role.ASSISTANT, Role.TOOL,
    ]


async def test_replace_and_heartbeat_string_coercion(errand: AgentService, model: ScriptedModel) -> None:
    """A valid replace edits the block; "true" as a string still requests a heartbeat."""
    result = await _send_with(
        errand, model,
        raw_tool_call("core_memory_replace", json.dumps({
            "label": "human", "old_content": "Bo", "new_content": "Bea", "request_heartbeat": "true",
        })),
        reply("Updated."),
    )
    assert result.steps[0].heartbeat
    assert (await errand.get_block("e", "human")).value == "Name: Bea"


async def test_breaker_stops_identical_repeats(errand: AgentService, model: ScriptedModel) -> None:
    """The same call with the same arguments three times in a row ends the chain."""
    call = tool_call("conversation_search", query="tea", request_heartbeat=True)
    result = await _send_with(errand, model, call, call, call, reply("never sent"))
    assert len(result.steps) == 3
    assert result.steps[-1].stop_reason == "repeated_call"
    assert "repeated 3 times" in result.steps[-1].messages[-1].text
    assert len(model.queue) == 1  # the fourth response was never requested


async def test_replace_is_held_to_the_block_limit(errand: AgentService, model: ScriptedModel) -> None:
    """A replace that would make the block one character too long is refused (the model gets an
    error result, the block is unchanged); one that fills it exactly to its limit is accepted."""
    assert (await errand.get_block("e", "human")).value == "Name: Bo"  # 8 of 40 characters
    fits = "B" + "o" * 33  # "Name: " + 34 characters = 40
    over = await _send_with(errand, model, tool_call(
        "core_memory_replace", label="human", old_content="Bo", new_content=fits + "o",
        request_heartbeat=False), reply("Too long."))
    name, content, is_error = tool_results(over)[0]
    assert name == "core_memory_replace" and is_error, content
    assert "41 characters" in content and "limit of 40" in content
    assert over.replies == ["Too long."]  # the failed call returned control to the model
    assert (await errand.get_block("e", "human")).value == "Name: Bo"
    exact = await _send_with(errand, model, tool_call(
        "core_memory_replace", label="human", old_content="Bo", new_content=fits,
        request_heartbeat=False))
    [(_, content, is_error)] = tool_results(exact)
    assert not is_error and "40/40" in content
    assert (await errand.get_block("e", "human")).value == "Name: " + fits


async def test_breaker_ignores_request_heartbeat_differences(
    errand: AgentService, model: ScriptedModel
) -> None:
    """Calls that differ only in how (or whether) request_heartbeat is written are the same call:
    the third one trips the breaker although every one asked for a heartbeat."""
    calls = [
        raw_tool_call("conversation_search", '{"query": "tea", "request_heartbeat": true}'),
        raw_tool_call("conversation_search", '{"request_heartbeat": "true", "query": "tea"}'),
        raw_tool_call("conversation_search", '{"query":"tea","request_heartbeat":"True"}'),
    ]
    result = await _send_with(errand, model, *calls, reply("never sent"))
    assert [s.heartbeat for s in result.steps] == [True, True, True]
    assert [s.stop_reason for s in result.steps] == [None, None, "repeated_call"]
    assert "repeated 3 times" in result.steps[-1].messages[-1].text
    assert len(model.queue) == 1  # the reply was never requested
    assert result.replies == []


async def test_breaker_counts_only_consecutive_identical_calls(
    errand: AgentService, model: ScriptedModel
) -> None:
    """A different argument in between resets the count: tea, tea, coffee, tea, tea goes on."""
    calls = [tool_call("conversation_search", query=q, request_heartbeat=True)
             for q in ("tea", "tea", "coffee", "tea", "tea")]
    result = await _send_with(errand, model, *calls, reply("Found it."))
    assert len(result.steps) == 6
    assert [s.stop_reason for s in result.steps][-1] == "end_turn"
    assert result.replies == ["Found it."]


@pytest.mark.parametrize("minutes", [1, 45, 360])
async def test_pause_heartbeats_records_the_pause(
    errand: AgentService, model: ScriptedModel, minutes: int
) -> None:
    """pause_heartbeats sets heartbeats_paused_until about N minutes ahead, persists it, says so
    in its result, and ends the chain (it takes no heartbeat)."""
    before = utcnow()
    result = await _send_with(errand, model, tool_call("pause_heartbeats", minutes=minutes))
    after = utcnow()
    [(name, content, is_error)] = tool_results(result)
    assert name == "pause_heartbeats" and not is_error
    until = (await errand.get_agent("e")).heartbeats_paused_until
    assert until is not None
    ahead = timedelta(minutes=minutes)
    assert before + ahead - timedelta(seconds=1) <= until <= after + ahead + timedelta(seconds=1)
    assert "paused until" in content and f"{until:%Y-%m-%d %H:%M}" in content
    assert len(result.steps) == 1 and result.steps[0].stop_reason == "end_turn"


@pytest.mark.parametrize("minutes", [0, 361])
async def test_pause_heartbeats_out_of_range_is_an_error(
    errand: AgentService, model: ScriptedModel, minutes: int
) -> None:
    """Minutes outside 1..360: an error result to the model, and nothing is paused."""
    result = await _send_with(errand, model, tool_call("pause_heartbeats", minutes=minutes), reply("ok"))
    name, content, is_error = tool_results(result)[0]
    assert name == "pause_heartbeats" and is_error and "between 1 and 360" in content
    assert (await errand.get_agent("e")).heartbeats_paused_until is None


async def test_step_budget_bounds_chain(settings: Settings) -> None:
    """A model that always asks for a heartbeat stops at max_chain_steps."""
    counter = iter(range(1000))
    model = ScriptedModel(policy=lambda req: tool_call(
        "archival_memory_insert", content=f"note {next(counter)}", request_heartbeat=True))
    async with AgentService(settings.model_copy(update={"max_chain_steps": 4}),
                            models={"scripted": model}) as svc:
        await svc.create_agent("b", model="scripted")
        result = await svc.send_message("b", "go")
        assert len(result.steps) == 4 and result.steps[-1].stop_reason == "max_steps"
        assert len(await svc.list_passages("b")) == 4


async def test_plain_text_reply_is_delivered(errand: AgentService, model: ScriptedModel) -> None:
    """A response with no tool call ends the turn and counts as the reply."""
    result = await _send_with(errand, model, text("Just words."))
    assert result.replies == ["Just words."]
    assert result.steps[0].stop_reason == "end_turn"


async def test_usage_recorded_per_step(errand: AgentService, model: ScriptedModel) -> None:
    """Each step carries the prompt and completion tokens of its model call."""
    result = await _send_with(errand, model, reply("hi"))
    assert result.steps[0].usage.prompt_tokens > 500
    assert result.usage.completion_tokens > 0


async def test_heartbeat_schema_added_by_loop(service: AgentService) -> None:
    """request_heartbeat is required on every tool except send_message and pause_heartbeats."""
    schemas = {s.name: s.parameters for s in service.tools.schemas()}
    assert set(schemas) == {
        "send_message", "core_memory_append", "core_memory_replace", "conversation_search",
        "conversation_search_date", "archival_memory_insert", "archival_memory_search",
        "pause_heartbeats",
    }
    for name, params in schemas.items():
        has = "request_heartbeat" in params["properties"]
        assert has == (name not in ("send_message", "pause_heartbeats")), name
        if has:
            assert "request_heartbeat" in params["required"]
