"""MemGPT's nested key-value task: exact-string archival search, followed hop by hop."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from memgpt import AgentService, ModelRequest, ModelResponse, ScriptedModel, Settings
from memgpt.llm.scripted import reply, tool_call
from memgpt.core.schemas import Role

DATA = Path(__file__).resolve().parent / "data" / "nested_kv"  # subset of the paper's data; see README.md there
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def load_records() -> list[tuple[str, str]]:
    """The first record set of the task file (the one the paper used): 140 UUID pairs."""
    first = json.loads((DATA / "kv-retrieval-140_keys.first_record.jsonl").read_text())
    records = [(k, v) for k, v in first["ordered_kv_records"]]
    assert len(records) == 140 and len({k for k, _ in records}) == 140
    return records


def build_case(records: list[tuple[str, str]], order: list[int]) -> tuple[list[str], str, str]:
    """Passages with each listed value replaced by the next listed key; query key; answer."""
    values = {i: v for i, (_, v) in enumerate(records)}
    for here, nxt in zip(order, order[1:]):
        values[here] = records[nxt][0]
    passages = [f"Key-value pair: key = {k}, value = {values[i]}" for i, (k, _) in enumerate(records)]
    return passages, records[order[0]][0], records[order[-1]][1]


def policy(request: ModelRequest) -> ModelResponse:
    """Search the key; if a passage has it as its key, search its value; else answer."""
    last = request.messages[-1]
    if last.role is Role.USER:
        match = re.search(UUID, last.text)
        assert match is not None
        return tool_call("archival_memory_search", query=match.group(0), request_heartbeat=True)
    call = next(c for m in reversed(request.messages) for c in m.tool_calls)
    result = next(r for m in reversed(request.messages) for r in m.tool_results)
    query = json.loads(call.arguments)["query"]
    hop = re.search(rf"key = {query}, value = ({UUID})", result.content)
    if hop:
        return tool_call("archival_memory_search", query=hop.group(1), request_heartbeat=True)
    return reply(query)


@pytest.mark.parametrize("level", [1, 2, 3, 4])
async def test_nested_kv(settings: Settings, level: int) -> None:
    """The first 10 orderings of each nesting level reach the right final value."""
    records = load_records()
    lines = (DATA / f"random_orderings_100_samples_140_indices_{level}_levels.jsonl").read_text()
    orderings = [json.loads(line) for line in lines.splitlines()[:10]]
    model = ScriptedModel(policy=policy)
    correct = 0
    async with AgentService(settings, models={"scripted": model}) as svc:
        for n, order in enumerate(orderings):
            assert len(order) == level
            passages, key, answer = build_case(records, order)
            agent = await svc.create_agent(f"kv-{level}-{n}", model="scripted")
            await svc.insert_passages(agent.id, passages)
            result = await svc.send_message(
                agent.id,
                f"Find the value for key {key}. If that value is itself a key, keep looking "
                "until you reach a value that is not a key, and tell me that value.",
            )
            tools_used = {c.name for m in result.messages for c in m.tool_calls}
            assert tools_used <= {"archival_memory_search", "send_message"}
            assert len(result.steps) == level + 2  # `level` hops, one check, one answer
            correct += result.replies == [answer]
    assert correct == 10
