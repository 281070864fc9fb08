"""Agent files (``.af``): one agent as Letta's agent-file JSON, written and read.

The layout is Letta's (``AgentFileSchema``): top-level ``agents``, ``blocks``, ``tools`` (and
empty ``groups``, ``files``, ``sources``, ``mcp_servers``), with ids local to the file
(``agent-0``, ``block-0``, ``tool-0``, ``message-0``). An agent lists its ``block_ids`` and
``tool_ids``, its whole history in ``messages`` (Letta's message shape: content parts,
OpenAI-style ``tool_calls``, ``tool_returns``) and ``in_context_message_ids``, headed by the
compiled system message as Letta expects. memgpt's system events (heartbeats, alerts) are
written as Letta writes them: user messages whose text is ``{"type": "system_alert", ...}``.

What Letta has no field for (the recursive summary, the memory-pressure flag, the summarizer
model, block timestamps' and archival passages) goes under a top-level ``memgpt`` key,
which Letta ignores, so a file round-trips through memgpt exactly and still loads in Letta.
Reading accepts Letta's own files too: its legacy packed user messages, inner thoughts
stored as text, tool results packed as ``{"status", "message"}``; its tools without source
(Letta's built-ins) are skipped, since memgpt agents have their own base tools.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from memgpt.core.errors import InvalidRequestError
from memgpt.core.schemas import (
    AgentState, Block, Message, Part, Passage, ReasoningPart, Role, TextPart, ToolCallPart,
    ToolDef, ToolResultPart, ToolRule, utcnow,
)
from memgpt.core.version import VERSION
from memgpt.formats.letta_tools import tool_rules_in, tool_rules_out

FORMAT = 1
"""Version of the ``memgpt`` extension block."""
EVENT_TYPES = {"system_alert": "message", "heartbeat": "reason", "login": "message"}
"""Letta's packed system-event messages and the field holding their text."""


# --- writing ---------------------------------------------------------------------------------
def _text(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def _when(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _letta_message(m: Message, file_id: str, agent_file_id: str, model: str) -> dict[str, Any]:
    """One of our messages in Letta's MessageSchema shape."""
    out: dict[str, Any] = {
        "type": "message", "id": file_id, "agent_id": agent_file_id, "model": model,
        "created_at": m.created_at.isoformat(), "name": None, "tool_calls": None,
        "tool_call_id": None, "tool_returns": [],
    }
    if m.role is Role.EVENT:
        packed = {"type": "system_alert", "message": m.text, "time": m.created_at.isoformat()}
        return {**out, "role": "user", "content": [_text(json.dumps(packed))]}
    if m.role is Role.TOOL:
        results = m.tool_results
        content = [_text(json.dumps({"status": "Failed" if r.is_error else "OK", "message": r.content,
                                     "time": m.created_at.isoformat()})) for r in results[:1]]
        returns = [{"tool_call_id": r.call_id, "status": "error" if r.is_error else "success",
                    "func_response": r.content, "stdout": None, "stderr": None} for r in results]
        return {**out, "role": "tool", "content": content, "name": results[0].name if results else None,
                "tool_call_id": results[0].call_id if results else None, "tool_returns": returns}
    content = []
    for part in m.parts:
        if isinstance(part, ReasoningPart):
            content.append({"type": "reasoning", "is_native": False, "reasoning": part.text, "signature": None})
        elif isinstance(part, TextPart):
            content.append(_text(part.text))
    calls = [{"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
             for c in m.tool_calls]
    return {**out, "role": m.role.value, "content": content, "tool_calls": calls or None}


def _letta_block(b: Block, file_id: str) -> dict[str, Any]:
    return {
        "id": file_id, "label": b.label, "value": b.value, "limit": b.limit,
        "description": b.description or None, "read_only": b.read_only, "is_template": False,
        "metadata": {"updated_at": b.updated_at.isoformat()},
    }


@dataclass
class Snapshot:
    """Everything exported of one agent, read from the stores under the agent's lock."""

    state: AgentState
    blocks: list[Block]
    tools: list[ToolDef]
    messages: list[Message]
    passages: list[Passage]
    llm_config: dict[str, Any]
    embedding_config: dict[str, Any]
    tool_out: list[dict[str, Any]]
    """The tools in Letta's Tool shape, in the order of ``tools``."""


def write(snap: Snapshot, *, with_messages: bool = True) -> dict[str, Any]:
    """The agent file (a JSON-ready dict) of a snapshot."""
    state, agent_ref = snap.state, "agent-0"
    block_ids = [f"block-{i}" for i in range(len(snap.blocks))]
    tool_ids = [f"tool-{i}" for i in range(len(snap.tools))]
    system = Message(role=Role.SYSTEM, parts=[TextPart(text=state.system_compiled or state.instructions)],
                     created_at=state.created_at)
    history = [system, *snap.messages] if with_messages else [system]
    message_ids = [f"message-{i}" for i in range(len(history))]
    in_context = [message_ids[0]] + [
        fid for fid, m in zip(message_ids[1:], history[1:]) if m.seq >= state.context_start
    ]
    agent = {
        "id": agent_ref, "name": state.name, "agent_type": "memgpt_agent", "system": state.instructions,
        "memory_blocks": [], "tools": [], "tool_ids": tool_ids, "source_ids": [], "block_ids": block_ids,
        "tool_rules": tool_rules_out(state.tool_rules), "tags": [], "description": None, "metadata": None,
        "llm_config": snap.llm_config, "embedding_config": snap.embedding_config,
        "include_base_tools": False, "message_buffer_autoclear": False, "timezone": "UTC",
        "in_context_message_ids": in_context,
        "messages": [_letta_message(m, fid, agent_ref, state.model) for fid, m in zip(message_ids, history)],
        "files_agents": [], "group_ids": [],
    }
    tools = [{**t, "id": fid} for t, fid in zip(snap.tool_out, tool_ids)]
    extension = {
        "format": FORMAT,
        "agents": {agent_ref: {
            "summary": state.summary if with_messages else "", "warned": state.warned and with_messages,
            "summarizer_model": state.summarizer_model,
            "max_output_tokens": state.max_output_tokens, "embedding_model": state.embedding_model,
            "last_memory_edit": _when(state.last_memory_edit),
            "heartbeats_paused_until": _when(state.heartbeats_paused_until),
        }},
        "passages": {agent_ref: [
            {"text": p.text, "tags": p.tags, "created_at": p.created_at.isoformat(),
             "embedding_model": p.embedding_model} for p in snap.passages
        ]},
    }
    return {
        "agents": [agent], "groups": [], "blocks": [_letta_block(b, i) for b, i in zip(snap.blocks, block_ids)],
        "files": [], "sources": [], "tools": tools, "mcp_servers": [],
        "metadata": {"exported_by": f"memgpt {VERSION}"}, "created_at": utcnow().isoformat(),
        "memgpt": extension,
    }


# --- reading ---------------------------------------------------------------------------------
class _In(BaseModel):
    model_config = ConfigDict(extra="ignore", protected_namespaces=())


class _Content(_In):
    type: str = "text"
    text: str | None = None
    reasoning: str | None = None


class _Function(_In):
    name: str
    arguments: str = "{}"


class _ToolCall(_In):
    id: str
    function: _Function


class _ToolReturn(_In):
    tool_call_id: str | None = None
    status: str | None = None
    func_response: str | None = None


class _Message(_In):
    id: str
    role: str
    content: list[_Content] | str | None = None
    name: str | None = None
    tool_calls: list[_ToolCall] | None = None
    tool_call_id: str | None = None
    tool_returns: list[_ToolReturn] | None = None
    created_at: datetime | None = None


class _Block(_In):
    id: str | None = None
    label: str
    value: str = ""
    limit: int | None = None
    description: str | None = None
    read_only: bool = False
    metadata: dict[str, Any] | None = None


class _Tool(_In):
    id: str
    name: str | None = None
    tool_type: str | None = None
    source_code: str | None = None
    description: str | None = None
    tags: list[str] | None = None
    return_char_limit: int | None = None
    json_schema: dict[str, Any] | None = None


class _LlmConfig(_In):
    model: str
    model_endpoint_type: str | None = None
    model_endpoint: str | None = None
    context_window: int | None = None
    handle: str | None = None
    max_tokens: int | None = None


class _Agent(_In):
    id: str
    name: str = Field(min_length=1, max_length=200)
    system: str | None = None
    agent_type: str | None = None
    model: str | None = None
    llm_config: _LlmConfig | None = None
    context_window_limit: int | None = None
    max_tokens: int | None = None
    block_ids: list[str] = Field(default_factory=list)
    memory_blocks: list[_Block] | None = None
    tool_ids: list[str] = Field(default_factory=list)
    tool_rules: list[dict[str, Any]] | None = None
    in_context_message_ids: list[str] = Field(default_factory=list)
    messages: list[Any] = Field(default_factory=list)
    """Validated one by one (``_messages``): one validation of a long history holds the GIL
    for its whole run, stalling the server's event loop even from a worker thread."""


class _File(_In):
    agents: list[_Agent]
    blocks: list[_Block] = Field(default_factory=list)
    tools: list[_Tool] = Field(default_factory=list)
    memgpt: dict[str, Any] | None = None


@dataclass
class FileTool:
    """A custom tool the file brings: its source and settings."""

    name: str
    source_code: str
    description: str | None
    tags: list[str]
    return_char_limit: int | None


@dataclass
class Plan:
    """What importing a file will create: read and checked before anything is written."""

    name: str
    model: str | None
    instructions: str | None
    context_window: int | None
    max_output_tokens: int | None
    blocks: list[Block]
    tools: list[FileTool]
    skipped_tools: list[str]
    messages: list[Message]
    context_start: int
    summary: str = ""
    warned: bool = False
    summarizer_model: str | None = None
    last_memory_edit: datetime | None = None
    heartbeats_paused_until: datetime | None = None
    passages: list[Passage] = field(default_factory=list)
    tool_rules: list[ToolRule] = field(default_factory=list)
    """The agent's tool rules (Letta's kinds this server runs; any other kind is a 400)."""


def _describe(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(x) for x in first["loc"]) or "file"
    return f"{where}: {first['msg']}" + (f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else "")


def _model_name(agent: _Agent) -> str | None:
    if agent.model:
        return agent.model
    cfg = agent.llm_config
    if cfg is None:
        return None
    if cfg.handle:
        return cfg.handle
    spec = f"{cfg.model_endpoint_type}/{cfg.model}" if cfg.model_endpoint_type else cfg.model
    return f"{spec}@{cfg.model_endpoint}" if cfg.model_endpoint else spec


def _blocks(agent: _Agent, by_id: dict[str, _Block]) -> list[Block]:
    missing = [i for i in agent.block_ids if i not in by_id]
    if missing:
        raise InvalidRequestError(f"the agent lists blocks the file does not have: {missing}")
    out: list[Block] = []
    for b in [*(by_id[i] for i in agent.block_ids), *(agent.memory_blocks or [])]:
        updated = (b.metadata or {}).get("updated_at")
        fields: dict[str, Any] = {"label": b.label, "value": b.value, "read_only": b.read_only,
                                  "description": b.description or "",
                                  "limit": max(b.limit or 2000, len(b.value), 1)}
        if isinstance(updated, str):
            fields["updated_at"] = updated
        try:
            out.append(Block.model_validate(fields))
        except ValidationError as exc:
            raise InvalidRequestError(f"block {b.label!r} cannot be imported: {_describe(exc)}") from exc
    labels = [b.label for b in out]
    if len(set(labels)) != len(labels):
        raise InvalidRequestError(f"block labels must be unique: {labels}")
    return out


def _tools(agent: _Agent, by_id: dict[str, _Tool], base: set[str]) -> tuple[list[FileTool], list[str]]:
    """The file's custom tools (with source), and the names of tools left out."""
    tools: list[FileTool] = []
    skipped: list[str] = []
    for tool_id in agent.tool_ids:
        t = by_id.get(tool_id)
        if t is None:
            raise InvalidRequestError(f"the agent lists tool {tool_id!r}, which the file does not have")
        name = t.name or str((t.json_schema or {}).get("name") or tool_id)
        if name in base:
            continue
        if not t.source_code or (t.tool_type not in (None, "custom")):
            skipped.append(name)
            continue
        tools.append(FileTool(name, t.source_code, t.description, t.tags or [], t.return_char_limit))
    return tools, skipped


def _unpack_user(text: str) -> tuple[Role, str]:
    """A user message's role and text, unpacking Letta's JSON-packed messages and events."""
    if text.startswith("{"):
        try:
            packed = json.loads(text)
        except json.JSONDecodeError:
            return Role.USER, text
        if isinstance(packed, dict):
            kind = packed.get("type")
            if kind == "user_message" and isinstance(packed.get("message"), str):
                return Role.USER, packed["message"]
            if kind in EVENT_TYPES and isinstance(packed.get(EVENT_TYPES[kind]), str):
                return Role.EVENT, packed[EVENT_TYPES[kind]]
    return Role.USER, text


def _unpack_result(text: str) -> tuple[str, bool]:
    """A tool message's text as (result, is_error), unpacking ``{"status", "message"}``."""
    try:
        packed = json.loads(text)
    except json.JSONDecodeError:
        return text, False
    if isinstance(packed, dict) and "status" in packed and "message" in packed:
        return str(packed["message"]), packed["status"] != "OK"
    return text, False


def _texts(m: _Message) -> list[_Content]:
    if isinstance(m.content, str):
        return [_Content(type="text", text=m.content)]
    return m.content or []


def _assistant(m: _Message, thoughts_as_text: bool) -> list[Part]:
    parts: list[Part] = []
    for c in _texts(m):
        if c.type == "reasoning" and c.reasoning:
            parts.append(ReasoningPart(text=c.reasoning))
        elif c.type == "text" and c.text:
            legacy_thought = thoughts_as_text and bool(m.tool_calls)
            parts.append(ReasoningPart(text=c.text) if legacy_thought else TextPart(text=c.text))
    parts += [ToolCallPart(id=c.id, name=c.function.name, arguments=c.function.arguments)
              for c in m.tool_calls or []]
    return parts


def _tool_results(m: _Message, names: dict[str, str]) -> list[Part]:
    if m.tool_returns:
        return [ToolResultPart(
            call_id=r.tool_call_id or m.tool_call_id or "", content=r.func_response or "",
            name=names.get(r.tool_call_id or "", m.name or "tool"), is_error=r.status == "error",
        ) for r in m.tool_returns]
    content, failed = _unpack_result("\n".join(c.text or "" for c in _texts(m)))
    call = m.tool_call_id or ""
    return [ToolResultPart(call_id=call, name=m.name or names.get(call, "tool"), content=content,
                           is_error=failed)]


def _messages(agent: _Agent, ours: bool) -> tuple[list[Message], int]:
    """The history as our messages (new ids) and the index of the first one in context."""
    thoughts_as_text = not ours and (agent.agent_type or "").startswith("memgpt")
    in_context = set(agent.in_context_message_ids)
    first_context = agent.in_context_message_ids[0] if agent.in_context_message_ids else None
    names: dict[str, str] = {}
    out: list[Message] = []
    start: int | None = None
    for i, raw in enumerate(agent.messages):
        try:
            m = _Message.model_validate(raw)
        except ValidationError as exc:
            raise InvalidRequestError(f"not a valid agent file: agents.0.messages.{i}.{_describe(exc)}") from exc
        when = {"created_at": m.created_at} if m.created_at else {}
        if m.role == "system":
            if m.id == first_context or (not out and m.id not in in_context):
                continue  # the compiled system prompt: rebuilt from instructions and blocks
            message = Message(role=Role.EVENT, parts=[TextPart(text="\n".join(c.text or "" for c in _texts(m)))], **when)
        elif m.role == "user":
            role, text = _unpack_user("\n".join(c.text or "" for c in _texts(m)))
            message = Message(role=role, parts=[TextPart(text=text)], **when)
        elif m.role == "assistant":
            message = Message(role=Role.ASSISTANT, parts=_assistant(m, thoughts_as_text), **when)
            names.update({c.id: c.function.name for c in m.tool_calls or []})
        elif m.role == "tool":
            message = Message(role=Role.TOOL, parts=_tool_results(m, names), **when)
        else:
            raise InvalidRequestError(f"message {m.id!r} has role {m.role!r}, which memgpt cannot import")
        if start is None and m.id in in_context:
            start = len(out)
        out.append(message)
    return out, len(out) if start is None else start


def _extension(data: _File, agent: _Agent) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    ext = data.memgpt if isinstance(data.memgpt, dict) else {}
    agents, passages = ext.get("agents"), ext.get("passages")
    mine = agents.get(agent.id) if isinstance(agents, dict) else None
    kept = passages.get(agent.id) if isinstance(passages, dict) else None
    return (mine if isinstance(mine, dict) else {}), (kept if isinstance(kept, list) else [])


class _Extras(_In):
    summary: str = ""
    warned: bool = False
    summarizer_model: str | None = None
    max_output_tokens: int | None = Field(default=None, ge=1)
    last_memory_edit: datetime | None = None
    heartbeats_paused_until: datetime | None = None


class _StoredPassage(_In):
    text: str = Field(min_length=1)
    tags: list[str] = Field(default_factory=list)
    created_at: datetime | None = None


def read(data: Any, *, base_tools: set[str], strip_messages: bool = False, max_messages: int | None = None) -> Plan:
    """Check an agent file and plan its import; InvalidRequestError naming what is wrong
    (``max_messages``: refuse a longer history before reading any of it)."""
    if not isinstance(data, dict):
        raise InvalidRequestError("an agent file is a JSON object with an 'agents' list")
    try:
        parsed = _File.model_validate(data)
    except ValidationError as exc:
        raise InvalidRequestError(f"not a valid agent file: {_describe(exc)}") from exc
    if len(parsed.agents) != 1:
        raise InvalidRequestError(f"the file has {len(parsed.agents)} agents; memgpt imports files of exactly one")
    agent = parsed.agents[0]
    if max_messages is not None and not strip_messages and len(agent.messages) > max_messages:
        raise InvalidRequestError(f"the file has {len(agent.messages)} messages; this server imports at "
                                  f"most {max_messages} (or import with strip_messages)")
    ext, stored = _extension(parsed, agent)
    try:
        extras = _Extras.model_validate(ext)
        passages = [_StoredPassage.model_validate(p) for p in stored]
    except ValidationError as exc:
        raise InvalidRequestError(f"the file's memgpt section is invalid: {_describe(exc)}") from exc
    tools, skipped = _tools(agent, {t.id: t for t in parsed.tools}, base_tools)
    messages, start = ([], 0) if strip_messages else _messages(agent, ours=parsed.memgpt is not None)
    cfg = agent.llm_config
    return Plan(
        name=agent.name, model=_model_name(agent), instructions=agent.system,
        context_window=agent.context_window_limit or (cfg.context_window if cfg else None),
        max_output_tokens=extras.max_output_tokens or agent.max_tokens or (cfg.max_tokens if cfg else None),
        blocks=_blocks(agent, {b.id or "": b for b in parsed.blocks}), tools=tools, skipped_tools=skipped,
        messages=messages, context_start=start,
        summary="" if strip_messages else extras.summary, warned=extras.warned and not strip_messages,
        summarizer_model=extras.summarizer_model, last_memory_edit=extras.last_memory_edit,
        heartbeats_paused_until=extras.heartbeats_paused_until,
        passages=[Passage(text=p.text, tags=p.tags, **({"created_at": p.created_at} if p.created_at else {}))
                  for p in passages],
        tool_rules=tool_rules_in(agent.tool_rules or []),
    )
