"""The window cache: a send reads only new messages, yet always sees what others wrote."""

from __future__ import annotations

from pathlib import Path

from memgpt import AgentService, ModelRequest, ModelResponse, ScriptedModel, Settings
from memgpt.llm.scripted import reply, text
from memgpt.core.schemas import Message


def policy(request: ModelRequest) -> ModelResponse:
    return text("Earlier: numbered notes.") if request.purpose == "summary" else reply("ok")


async def test_cached_window_matches_recall_across_services(tmp_path: Path) -> None:
    """Two services on one database (as two server processes) take turns sending to one agent
    through evictions, and messages are also appended straight to the store: after every
    send each service's cached window is exactly the suffix of recall from context_start."""
    settings = Settings(home=tmp_path, embedder="hashing")
    model = ScriptedModel(policy=policy)
    async with (
        AgentService(settings, models={"m": model}) as first,
        AgentService(settings, models={"m": model}) as second,
    ):
        agent = await first.create_agent("w", model="m", context_window=2000)
        starts = set()
        for i in range(30):
            svc = second if i % 3 == 2 else first
            await svc.send_message(agent.id, f"note {i}: " + "filler words " * 30)
            if i % 5 == 4:
                await first.stores.recall.append(agent.id, [Message.user(f"imported {i}")])
            for each in (first, second):
                state = await each.get_agent(agent.id)
                expected = await each.stores.recall.since(agent.id, state.context_start)
                cached = await each.kernel.windows.load(state)
                assert [m.id for m in cached] == [m.id for m in expected], (i, each is first)
                starts.add(state.context_start)
        assert len(starts) > 2  # evictions moved the window several times
        await first.delete_agent(agent.id)
        assert agent.id not in first.kernel.windows._windows
