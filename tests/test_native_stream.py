"""memgpt's own stream: every loop event as one Server-Sent Event, in order."""

from __future__ import annotations

import json

import httpx

from memgpt import AgentService, ScriptedModel
from memgpt.llm.scripted import reply, tool_call
from memgpt.server import create_app
from serve import serving_app


def _events(body: str) -> list[tuple[str, dict[str, object] | str]]:
    out: list[tuple[str, dict[str, object] | str]] = []
    for chunk in body.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in chunk.splitlines())
        data = lines["data"]
        out.append((lines.get("event", ""), data if data == "[DONE]" else json.loads(data)))
    return out


async def test_stream_sends_each_event_then_done(service: AgentService, model: ScriptedModel) -> None:
    """Deltas, saved messages, the memory change, steps and the run, then [DONE]."""
    agent = await service.create_agent("a", model="scripted")
    model.push(tool_call("core_memory_append", label="human", content="Name: Ada", request_heartbeat=True),
               reply("Hi Ada"))
    async with serving_app(create_app(service)) as base, httpx.AsyncClient(base_url=base) as http:
        r = await http.post(f"/memgpt/v1/agents/{agent.id}/messages/stream", json={"text": "I'm Ada"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = _events(r.text)
    assert events[-1] == ("", "[DONE]")
    kinds = [kind for kind, _ in events[:-1]]
    assert {"delta", "message", "memory", "step", "run"} == set(kinds)
    assert kinds[-1] == "run" and kinds.index("memory") < kinds.index("step")
    run = events[-2][1]
    assert isinstance(run, dict) and run["stop_reason"] == "end_turn" and run["steps"] == 2
    said = [d["message"] for k, d in events if k == "message" and isinstance(d, dict)]
    assert said[0]["parts"][0]["text"] == "I'm Ada"  # type: ignore[index]


async def test_stream_to_unknown_agent_is_a_json_404(service: AgentService) -> None:
    """An error before anything ran is an ordinary JSON error, not a stream."""
    async with serving_app(create_app(service)) as base, httpx.AsyncClient(base_url=base) as http:
        r = await http.post("/memgpt/v1/agents/nobody/messages/stream", json={"text": "hi"})
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/json")
