"""An offline demonstration: a rule-following scripted model exercising the memory tools."""

from __future__ import annotations

import json
import re

from memgpt.llm.base import ModelRequest, ModelResponse
from memgpt.llm.scripted import ScriptedModel, reply, text, tool_call
from memgpt.core.schemas import Role

DEMO_MODEL = "demo"
DEMO_INPUTS = [
    "Hi, my name is Ada and I build telescopes.",
    "Remember that my telescope mirror is 150 mm wide.",
    "What do you remember about the telescope mirror?",
]


def _after_tool(request: ModelRequest) -> ModelResponse:
    result = next(r for m in reversed(request.messages) for r in m.tool_results)
    if result.is_error:
        return reply(f"Something went wrong: {result.content}")
    if result.name == "archival_memory_search":
        hits = [ln[2:] for ln in result.content.splitlines() if ln.startswith("- ")]
        found = hits[0].split("] ", 1)[-1] if hits else "nothing yet"
        return reply(f"From my archive: {found}", thinking="Report the best match.")
    if result.name == "core_memory_append":
        name = re.search(r"Name: (\w+)", request.system)
        return reply(f"Nice to meet you, {name.group(1) if name else 'friend'}! I'll remember that.")
    return reply("Saved to my archival memory.", thinking="Confirm the save.")


def demo_policy(request: ModelRequest) -> ModelResponse:
    """Save names to core memory, 'remember ...' to archival, answer 'what do you remember'."""
    if request.purpose == "summary":
        return text("The user introduced themselves and shared details about their hobby.")
    last = request.messages[-1]
    if last.role is Role.EVENT:
        return _after_tool(request)
    said = last.text
    if name := re.search(r"my name is (\w+)", said, re.I):
        return tool_call("core_memory_append", thinking="A name: core memory.", label="human",
                         content=f"Name: {name.group(1)}. {said}", request_heartbeat=True)
    if fact := re.match(r"remember (?:that )?(.+)", said, re.I):
        return tool_call("archival_memory_insert", thinking="A detail for the archive.",
                         content=fact.group(1), request_heartbeat=True)
    if topic := re.search(r"remember about (.+?)\??$", said, re.I):
        return tool_call("archival_memory_search", thinking="Check the archive.",
                         query=topic.group(1), request_heartbeat=True)
    return reply(f"(demo model) You said: {json.dumps(said)}")


def demo_model() -> ScriptedModel:
    """The demo's scripted model."""
    return ScriptedModel(policy=demo_policy, name=DEMO_MODEL)
