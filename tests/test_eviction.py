"""Each eviction path, observed from outside: what the caller gets, what the summarizer is
asked, what the summary becomes and what the agent's next request holds.

The agent and its summarizer are separate scripted models, so ``summarizer.calls`` is exactly
the list of summary requests.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from memgpt import AgentService, ModelRequest, ModelResponse, ScriptedModel, Settings
from memgpt.core.errors import ContextOverflowError
from memgpt.core.schemas import Message, Role, TextPart, ToolCallPart, ToolResultPart
from memgpt.llm.scripted import reply, text, tool_call
from memgpt.llm.tokens import count_messages, count_tools, estimate_tokens
from memgpt.runtime.summarizer import eviction_cut

VOCAB = (
    "garden river lantern copper meadow violin harbor thunder pepper canyon orbit velvet "
    "marble window journey basket candle glacier mosaic ferry summit puzzle ember willow"
).split()


def prose(tokens: int, seed: int = 0) -> str:
    """Words from VOCAB, at least ``tokens`` tokens long."""
    rng = random.Random(seed)
    words = [rng.choice(VOCAB) for _ in range(tokens)]
    out = " ".join(words)
    assert estimate_tokens(out) >= tokens
    return out


def request_size(request: ModelRequest) -> int:
    """Prompt tokens plus the tokens reserved for the answer."""
    return count_messages(request.messages) + count_tools(request.tools) + (request.max_tokens or 0)


def orphan_results(messages: list[Message]) -> list[str]:
    """Call ids of tool results whose call is not in an earlier message of the list."""
    called: set[str] = set()
    orphans = []
    for m in messages:
        orphans += [r.call_id for r in m.tool_results if r.call_id not in called]
        called |= {c.id for c in m.tool_calls}
    return orphans


def service_with(settings: Settings, agent: ScriptedModel, summarizer: ScriptedModel) -> AgentService:
    """A service whose agents run on "scripted" and may summarize with "summarizer"."""
    return AgentService(settings, models={"scripted": agent, "summarizer": summarizer})


# --- (a) one message larger than the whole window -------------------------------------------------
@pytest.mark.parametrize("earlier_turns", [0, 2])
async def test_message_larger_than_the_window_is_refused_but_kept(
    settings: Settings, earlier_turns: int
) -> None:
    """A single user message bigger than the window: a clear ContextOverflowError reaches the
    caller, the model never sees it, it stays in recall, and the agent recovers afterwards."""
    window = 2000
    agent_model = ScriptedModel(policy=lambda r: reply("ok"))
    summarizer = ScriptedModel(policy=lambda r: text("The user sent an enormous message."))
    huge = "Here is my novel: " + prose(3 * window)
    async with service_with(settings, agent_model, summarizer) as svc:
        agent = await svc.create_agent("big", model="scripted", summarizer_model="summarizer",
                                       context_window=window)
        for i in range(earlier_turns):
            await svc.send_message(agent.id, f"hello {i}")
        agent_calls = len(agent_model.calls)

        with pytest.raises(ContextOverflowError, match=r"(?s)does not fit.*saved in recall") as info:
            await svc.send_message(agent.id, huge)
        assert str(window) in str(info.value)
        assert len(agent_model.calls) == agent_calls, "the oversized request reached the model"
        if not earlier_turns:  # nothing else was in the window: nothing to summarize
            assert summarizer.calls == []
        history = await svc.list_messages(agent.id, limit=100)
        assert history[-1].role is Role.USER and history[-1].text == huge
        assert [m.text for m in history if m.role is Role.USER] == [
            *(f"hello {i}" for i in range(earlier_turns)), huge,
        ]

        # the next message goes through: the oversized one is folded away, not retried forever
        result = await svc.send_message(agent.id, "sorry, that was long")
        assert result.replies == ["ok"]
        last = agent_model.calls[-1]
        assert huge not in [m.text for m in last.messages]
        assert request_size(last) <= window
        assert (await svc.list_messages(agent.id, limit=100))[-3].text == "sorry, that was long"


# --- (b) an eviction longer than the summarizer's window: folded chunk by chunk --------------------
async def test_long_eviction_is_summarized_chunk_by_chunk(settings: Settings) -> None:
    """Shrinking a full 32k window to 4k evicts ~23k tokens at once: the summarizer is asked
    several times, each request fits the window and carries the summary so far, every evicted
    passage is seen once in order, and the last fold is the summary the agent then uses."""
    big, small, passages = 32768, 4096, 9
    agent_model = ScriptedModel(policy=lambda r: reply("ok"))
    folds: list[ModelRequest] = []

    def fold(request: ModelRequest) -> ModelResponse:
        folds.append(request)
        return text(f"Summary {len(folds)}: the user shared long numbered passages.")

    summarizer = ScriptedModel(policy=fold)
    async with service_with(settings, agent_model, summarizer) as svc:
        agent = await svc.create_agent("long", model="scripted", summarizer_model="summarizer",
                                       context_window=big)
        for i in range(passages):
            await svc.send_message(agent.id, f"Passage {i}: " + prose(2500, seed=i))
        assert summarizer.calls == [], "the passages should all fit the big window"

        await svc.update_agent(agent.id, context_window=small)
        result = await svc.send_message(agent.id, "What did I send you?")
        state = await svc.get_agent(agent.id)

    assert result.replies == ["ok"]
    calls = summarizer.calls
    assert len(calls) >= 3, f"expected several summary requests, got {len(calls)}"
    assert all(c.purpose == "summary" for c in calls)
    for k, call in enumerate(calls):
        assert request_size(call) <= small, (k, request_size(call))
        if k:  # each fold starts from the one before
            assert f"Summary {k}:" in call.messages[-1].text
    # every passage reached the summarizer exactly once, in order
    where = [[k for k, c in enumerate(calls) if f"Passage {i}:" in c.messages[-1].text]
             for i in range(passages)]
    assert all(len(w) == 1 for w in where), where
    assert [w[0] for w in where] == sorted(w[0] for w in where)
    # the final fold is the summary, and the agent's next request uses it (and not an earlier one)
    assert state.summary == f"Summary {len(calls)}: the user shared long numbered passages."
    last = agent_model.calls[-1]
    assert state.summary in last.system
    assert f"Summary {len(calls) - 1}:" not in last.system
    assert request_size(last) <= small


# --- (c, d) the summary budget, and a runaway summary clipped to it ---------------------------------
@pytest.mark.parametrize(("window", "summary_tokens", "budget"), [
    (2500, 400, 200),   # 8% of the window is the smaller: 200
    (3000, 100, 100),   # the setting is the smaller: 100
    (6000, 400, 400),   # the default setting under 8% (480)
])
async def test_runaway_summary_is_clipped_to_the_budget(
    tmp_path: Path, window: int, summary_tokens: int, budget: int
) -> None:
    """The summary budget is min(summary_tokens, 8% of the window): the summarizer is asked for
    at most that many tokens, and a far longer answer is clipped to it at a word boundary."""
    runaway = " ".join(f"fact{i}" for i in range(8000))
    assert estimate_tokens(runaway) > 20 * budget
    agent_model = ScriptedModel(policy=lambda r: reply("ok"))
    summarizer = ScriptedModel(policy=lambda r: text(runaway))
    settings = Settings(home=tmp_path / "home", summary_tokens=summary_tokens)
    async with service_with(settings, agent_model, summarizer) as svc:
        agent = await svc.create_agent("run", model="scripted", summarizer_model="summarizer",
                                       context_window=window)
        for i in range(60):
            await svc.send_message(agent.id, f"Note {i}: " + prose(250, seed=i))
            if summarizer.calls:
                break
        assert summarizer.calls, "no eviction happened"
        await svc.send_message(agent.id, "and one more")
        state = await svc.get_agent(agent.id)

    assert {c.max_tokens for c in summarizer.calls} == {budget}
    summary = state.summary
    assert budget - 10 <= estimate_tokens(summary) <= budget, estimate_tokens(summary)
    assert runaway.startswith(summary + " ")  # clipped at a word boundary, not mid-word
    last = agent_model.calls[-1]
    assert summary in last.system
    assert request_size(last) <= window


# --- (e) a tool call never leaves the window without its result ----------------------------------
async def test_eviction_never_leaves_a_tool_result_without_its_call(settings: Settings) -> None:
    """A huge tool call early on: the cut that removes half the tokens would fall right after it,
    on its result. Every request the agent then makes has each tool result after its call."""
    window = 3000
    agent_model = ScriptedModel()

    def policy(request: ModelRequest) -> ModelResponse:
        last = request.messages[-1]
        if last.role is Role.USER and last.text == "go":
            return tool_call("archival_memory_insert", content="Report: " + prose(900, seed=7),
                             request_heartbeat=True)
        return reply("ok")

    agent_model.policy = policy
    summarizer = ScriptedModel(policy=lambda r: text("Earlier: a long report was archived."))
    async with service_with(settings, agent_model, summarizer) as svc:
        agent = await svc.create_agent("tools", model="scripted", summarizer_model="summarizer",
                                       context_window=window)
        await svc.send_message(agent.id, "go")
        for i in range(40):
            await svc.send_message(agent.id, f"Small talk {i}: " + prose(30, seed=i))
            if summarizer.calls:
                break
        assert summarizer.calls, "no eviction happened"
        state = await svc.get_agent(agent.id)

    # the report's call was evicted (so this test exercised the split)...
    evicted = summarizer.calls[0].messages[-1].text
    assert "assistant called archival_memory_insert" in evicted
    assert state.context_start > 0
    # ...and no request ever started with, or held, a result whose call was not before it
    for k, call in enumerate(agent_model.calls):
        assert call.messages[1].role is not Role.TOOL, k
        assert orphan_results(call.messages) == [], k


def _call(cid: str, size: int) -> Message:
    args = '{"content": "' + prose(size, seed=len(cid)) + '"}'
    return Message(role=Role.ASSISTANT, parts=[ToolCallPart(id=cid, name="archival_memory_insert",
                                                            arguments=args)])


def _result(cid: str) -> Message:
    return Message(role=Role.TOOL, parts=[ToolResultPart(call_id=cid, name="archival_memory_insert",
                                                         content="Stored.")])


def test_eviction_cut_walks_back_to_keep_a_call_with_its_results() -> None:
    """No user or event message after the naive cut: the cut walks back onto the call."""
    said = Message(role=Role.ASSISTANT, parts=[TextPart(text="Done.")])
    history = [Message.user("start"), _call("c1", 500), _result("c1"), _result("c1b"),
               _call("c2", 40), _result("c2"), said]
    history[1].parts.append(ToolCallPart(id="c1b", name="archival_memory_insert", arguments="{}"))
    # the naive cut (the first index past half the tokens) lands on c1's result
    cut = eviction_cut(history)
    assert 0 < cut < len(history)
    kept = history[cut:]
    assert kept[0].role is not Role.TOOL
    assert orphan_results(kept) == []
    assert {"c1", "c1b"} <= {c.id for m in kept for c in m.tool_calls}  # kept with its results


def test_eviction_cut_never_orphans_a_result_in_random_histories() -> None:
    """Random histories of turns, chains without events, and multi-call steps: whatever the
    cut, the kept suffix holds every result's call and at least keep_last messages."""
    rng = random.Random(1234)
    for trial in range(300):
        history: list[Message] = []
        n = 0
        for _ in range(rng.randint(1, 8)):
            kind = rng.random()
            if kind < 0.3:
                history.append(Message.user(prose(rng.randint(1, 60), seed=trial)))
            elif kind < 0.4:
                history.append(Message.event("heartbeat: function call returned; continue."))
            else:
                ids = [f"c{n + j}" for j in range(rng.randint(1, 3))]
                n += len(ids)
                step = _call(ids[0], rng.randint(1, 400))
                for extra in ids[1:]:
                    step.parts.append(ToolCallPart(id=extra, name="archival_memory_insert", arguments="{}"))
                history += [step, *(_result(i) for i in ids)]
        keep_last = rng.randint(1, 2)
        cut = eviction_cut(history, min_tokens=rng.randint(0, 300), keep_last=keep_last)
        assert 0 <= cut <= max(0, len(history) - keep_last), (trial, cut)
        assert orphan_results(history[cut:]) == [], (trial, cut, [m.role for m in history])
