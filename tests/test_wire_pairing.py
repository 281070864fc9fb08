"""A tool result stored away from its call still reaches providers right after the call.

History can hold a call whose result was appended later (a crash before the step engine
committed whole steps, an imported agent file); the real APIs answer 400 to such a request.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from memgpt import AgentService, Settings
from memgpt.core.schemas import Message, Role, ToolCallPart
from memgpt.llm.anthropic_messages import AnthropicModel
from memgpt.llm.base import Model
from memgpt.llm.openai_chat import OpenAIChatModel
from memgpt.llm.wire import paired

from fakes.anthropic_server import FakeAnthropic, message
from fakes.openai_server import FakeOpenAI, completion

DANGLING = ToolCallPart(id="call_dangling", name="core_memory_append",
                        arguments='{"label": "human", "content": "x"}')


def _history() -> list[Message]:
    return [Message.user("earlier"), Message(role=Role.ASSISTANT, parts=[DANGLING]), Message.event("later")]


def test_paired_moves_results_behind_calls_and_answers_missing_ones() -> None:
    """Each call is followed by its result; a missing one is supplied; orphans become events."""
    late = Message(role=Role.TOOL, parts=[*paired([Message(role=Role.ASSISTANT, parts=[DANGLING])])[1].parts])
    orphan = Message(role=Role.TOOL, parts=[late.tool_results[0].model_copy(update={"call_id": "gone"})])
    out = paired([*_history(), late, orphan])
    roles = [m.role for m in out]
    assert roles == [Role.USER, Role.ASSISTANT, Role.TOOL, Role.EVENT, Role.EVENT]
    assert out[2].tool_results[0].call_id == "call_dangling"
    assert "out of view" in out[4].text
    bare = paired(_history())
    assert bare[2].tool_results[0].is_error and "No result" in bare[2].tool_results[0].content


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_provider_accepts_history_with_a_late_result(settings: Settings, kind: str) -> None:
    """The service answers (after closing the dangling call) instead of a 400 from the API."""
    fake: Any = FakeOpenAI() if kind == "openai" else FakeAnthropic()
    with fake:
        model: Model
        if kind == "openai":
            model = OpenAIChatModel("gpt-4o-mini", base_url=fake.url, api_key="k", max_retries=0)
            fake.push(completion(None, [("send_message", json.dumps({"message": "hi"}))]))
        else:
            model = AnthropicModel("claude-sonnet-4-6", base_url=fake.url, api_key="k", max_retries=0)
            fake.push(message(None, [("send_message", {"message": "hi"})]))
        async with AgentService(settings, models={"m": model}) as svc:
            agent = await svc.create_agent("a", model="m")
            await svc.stores.recall.append(agent.id, _history())
            result = await svc.send_message(agent.id, "now")
        assert result.replies == ["hi"]
        assert fake.rejected == []
