"""Functions become tools: schema from the typed signature and docstring, checked on registration."""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, get_type_hints

from pydantic import (
    BaseModel, ConfigDict, Field, PydanticSchemaGenerationError, PydanticUserError, ValidationError,
    create_model,
)

from memgpt.core.errors import ToolDefinitionError, ToolError
from memgpt.core.schemas import Block, Message, Passage, ToolCallPart, ToolSchema
from memgpt.memory.stores import Page

ToolFn = Callable[..., Awaitable[str]]
HEARTBEAT = "request_heartbeat"
HEARTBEAT_DOC = "true to run another step after this call returns."


def _parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """Summary paragraph and per-argument descriptions from a Google-style docstring."""
    doc = inspect.cleandoc(doc)
    head, _, rest = doc.partition("\nArgs:\n")
    summary = " ".join(head.split("\n\n")[0].split())
    args: dict[str, str] = {}
    current = None
    for line in rest.splitlines():
        if line and not line[0].isspace():
            break  # next section (Returns:, ...)
        match = re.match(r"\s+(\w+)(?:\s*\([^)]*\))?:\s*(.*)", line)
        if match and (current is None or len(line) - len(line.lstrip()) <= 4):
            current = match.group(1)
            args[current] = match.group(2).strip()
        elif current and line.strip():
            args[current] += " " + line.strip()
    return summary, args


class ToolContext(Protocol):
    """What a tool may do to its agent's memory; the agent runtime provides it (one step's
    unit of work: edits and passages commit with the step's messages)."""

    page_size: int

    async def edit_block(self, label: str, new: Block) -> None:
        """Persist a changed block."""
    async def get_block(self, label: str) -> Block:
        """The current block with label (BlockError if none)."""
    async def search_recall(
        self, query: str | None, start: datetime | None, end: datetime | None, page: int
    ) -> Page[Message]:
        """One page of recall search results."""
    async def insert_passage(self, text: str) -> Passage:
        """Store a passage in archival memory."""
    async def search_archival(self, query: str, page: int) -> Page[Passage]:
        """One page of archival search results."""
    async def pause_heartbeats(self, until: datetime) -> None:
        """Suppress timed heartbeats until the given time."""


@dataclass(frozen=True)
class Tool:
    """A callable tool with its model-facing schema and argument validator."""

    name: str
    fn: ToolFn
    schema: ToolSchema
    args_model: type[BaseModel]
    heartbeat: bool
    external: bool = False
    """Its effects leave the database (custom code, MCP): journalled as started/finished."""


@dataclass(frozen=True)
class Param:
    """One model-facing parameter of a tool: its name, type and default (``...``: required)."""

    name: str
    annotation: Any
    default: Any = ...


def build_schema(
    name: str, doc: str, params: list[Param], *, heartbeat: bool = True
) -> tuple[ToolSchema, type[BaseModel]]:
    """The model-facing schema and argument validator of a tool, from its docstring and params.

    Every parameter must have a type and be documented in the docstring's ``Args:`` section.
    """
    summary, arg_docs = _parse_docstring(doc)
    if not summary:
        raise ToolDefinitionError(f"tool {name!r} has no docstring to describe it")
    fields: dict[str, Any] = {}
    for p in params:
        if p.annotation is inspect.Parameter.empty:
            raise ToolDefinitionError(f"tool {name!r}: parameter {p.name!r} has no type")
        if p.name not in arg_docs:
            raise ToolDefinitionError(f"tool {name!r}: parameter {p.name!r} is undocumented")
        if heartbeat and p.name == HEARTBEAT:
            raise ToolDefinitionError(f"tool {name!r}: {HEARTBEAT!r} is added by the loop, not a parameter")
        fields[p.name] = (p.annotation, Field(p.default, description=arg_docs[p.name]))
    config = ConfigDict(extra="forbid")
    try:
        args_model: type[BaseModel] = create_model(f"{name}_args", __config__=config, **fields)
        parameters = args_model.model_json_schema()
    except (PydanticSchemaGenerationError, PydanticUserError, TypeError, ValueError) as exc:
        raise ToolDefinitionError(f"tool {name!r}: cannot build a schema: {exc}") from exc
    parameters.pop("title", None)
    parameters.pop("additionalProperties", None)
    for prop in parameters.get("properties", {}).values():
        prop.pop("title", None)
    if heartbeat:
        parameters.setdefault("properties", {})[HEARTBEAT] = {
            "type": "boolean",
            "description": HEARTBEAT_DOC,
        }
        parameters.setdefault("required", []).append(HEARTBEAT)
    return ToolSchema(name=name, description=summary, parameters=parameters), args_model


def make_tool(fn: ToolFn, *, heartbeat: bool = True, name: str | None = None) -> Tool:
    """Build a Tool from an async function whose first parameter is the tool context."""
    tool_name = name or fn.__name__
    if not inspect.iscoroutinefunction(fn):
        raise ToolDefinitionError(f"tool {tool_name!r} must be an async function")
    hints = get_type_hints(fn)
    params = [
        Param(p.name, hints.get(p.name, inspect.Parameter.empty),
              ... if p.default is inspect.Parameter.empty else p.default)
        for p in list(inspect.signature(fn).parameters.values())[1:]  # skip the context
    ]
    schema, args_model = build_schema(tool_name, fn.__doc__ or "", params, heartbeat=heartbeat)
    return Tool(tool_name, fn, schema, args_model, heartbeat)


@dataclass(frozen=True)
class ToolOutcome:
    """What running one tool call gave: result text, failure flag, heartbeat request."""

    content: str
    is_error: bool
    heartbeat: bool


def _format_validation(err: ValidationError) -> str:
    problems = []
    for e in err.errors():
        where = ".".join(str(x) for x in e["loc"]) or "arguments"
        if e["type"] == "missing":
            problems.append(f"missing required argument {where!r}")
        elif e["type"] == "extra_forbidden":
            problems.append(f"unexpected argument {where!r}")
        else:
            problems.append(f"argument {where!r}: {e['msg']}")
    return "; ".join(problems)


def _wants_heartbeat(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


class ToolRegistry:
    """The tools one agent may call, by name."""

    def __init__(self, tools: list[Tool]) -> None:
        self.tools = {t.name: t for t in tools}

    def extended(self, more: list[Tool]) -> ToolRegistry:
        """A registry with these tools too (a name already taken keeps its first tool)."""
        if not more:
            return self
        return ToolRegistry([*self.tools.values(), *(t for t in more if t.name not in self.tools)])

    def is_external(self, name: str) -> bool:
        """Whether the named tool's effects leave the database."""
        tool = self.tools.get(name)
        return tool is not None and tool.external

    def schemas(self) -> list[ToolSchema]:
        """Schemas of every tool, in registration order."""
        return [t.schema for t in self.tools.values()]

    async def run(self, call: ToolCallPart, context: ToolContext) -> ToolOutcome:
        """Run one call; every mistake in it becomes an error outcome for the model."""
        tool = self.tools.get(call.name)
        if tool is None:
            known = ", ".join(self.tools)
            return ToolOutcome(f"Unknown function {call.name!r}. Available: {known}.", True, True)
        try:
            args = json.loads(call.arguments or "{}")
        except json.JSONDecodeError as exc:
            return ToolOutcome(
                f"Arguments to {call.name} are not valid JSON ({exc.msg} at position "
                f"{exc.pos}). Send a JSON object.",
                True,
                True,
            )
        if not isinstance(args, dict):
            return ToolOutcome(f"Arguments to {call.name} must be a JSON object.", True, True)
        heartbeat = _wants_heartbeat(args.pop(HEARTBEAT, False)) if tool.heartbeat else False
        try:
            validated = tool.args_model.model_validate(args)
        except ValidationError as err:
            return ToolOutcome(f"Bad call to {call.name}: {_format_validation(err)}.", True, True)
        try:
            result = await tool.fn(context, **dict(validated))
        except ToolError as exc:
            return ToolOutcome(str(exc), True, True)
        return ToolOutcome(result, False, heartbeat)
