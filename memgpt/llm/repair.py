"""Robust tool calling: repair broken argument JSON, find calls written as text, coerce types.

Local models often emit tool calls with small defects. Each function here returns what it
changed as short notes, which the loop records on the step.
"""

from __future__ import annotations

import ast
import json
import re
import uuid
from typing import Any

from memgpt.core.schemas import (
    Message, ReasoningPart, TextPart, ToolCallPart, ToolSchema, scrub_text,
)

_FENCE = re.compile(r"^\s*```[\w-]*\s*\n?(.*?)\n?\s*```\s*$", re.S)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_TAGGED = re.compile(r"<(tool_call|function_call)>\s*(.*?)\s*</\1>", re.S)
_NAME_KEYS = ("name", "function", "tool", "tool_name")
_ARG_KEYS = ("arguments", "parameters", "args", "input")


def _loads_lenient(raw: str) -> tuple[Any, list[str]]:
    """Parse JSON, repairing fences, trailing commas, single quotes and Python literals."""
    notes: list[str] = []
    text = raw.strip()
    try:
        return json.loads(text), notes
    except json.JSONDecodeError:
        pass
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1).strip()
        notes.append("removed code fence")
        try:
            return json.loads(text), notes
        except json.JSONDecodeError:
            pass
    no_commas = _TRAILING_COMMA.sub(r"\1", text)
    if no_commas != text:
        try:
            value = json.loads(no_commas)
            return value, [*notes, "removed trailing comma"]
        except json.JSONDecodeError:
            text = no_commas
            notes.append("removed trailing comma")
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise ValueError("arguments are not JSON") from None
    json.dumps(value)  # must be JSON-representable
    return value, [*notes, "parsed Python-style literal (quotes/True/False/None)"]


def repair_arguments(raw: str) -> tuple[str, list[str]]:
    """Arguments as valid JSON text where they can be repaired; unchanged otherwise."""
    if not raw.strip():
        return "{}", ["empty arguments taken as {}"]
    try:
        value, notes = _loads_lenient(raw)
    except ValueError:
        return raw, []
    if isinstance(value, str):  # double-encoded JSON
        try:
            inner, more = _loads_lenient(value)
            value, notes = inner, [*notes, *more, "decoded double-encoded arguments"]
        except ValueError:
            pass
    return (json.dumps(value) if notes else raw), notes


def _scrubbed(value: Any) -> Any:
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {scrub_text(k): _scrubbed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrubbed(v) for v in value]
    return value


def scrub_arguments(arguments: str) -> tuple[str, list[str]]:
    """Arguments whose JSON escapes decode to a lone surrogate or a NUL, with those replaced
    (U+FFFD) or dropped: a tool would otherwise store, or send back, text no store can keep."""
    if "\\u" not in arguments:
        return arguments, []
    try:
        value = json.loads(arguments)
    except json.JSONDecodeError:
        return arguments, []
    clean = _scrubbed(value)
    if clean == value:
        return arguments, []
    return json.dumps(clean, ensure_ascii=False), ["replaced unstorable characters (lone surrogate or NUL)"]


def _coerce(value: Any, schema: dict[str, Any]) -> Any:
    kind = schema.get("type")
    if kind == "string" and not isinstance(value, str):
        return json.dumps(value) if isinstance(value, (dict, list)) else str(value)
    if kind == "integer" and isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    if kind == "integer" and isinstance(value, float) and value.is_integer():
        return int(value)
    if kind == "number" and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    if kind == "boolean" and isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return value


def coerce_arguments(arguments: str, schema: ToolSchema | None) -> tuple[str, list[str]]:
    """Arguments with scalar values converted to the types the tool's schema declares."""
    if schema is None:
        return arguments, []
    try:
        args = json.loads(arguments)
    except json.JSONDecodeError:
        return arguments, []
    if not isinstance(args, dict):
        return arguments, []
    props: dict[str, Any] = schema.parameters.get("properties", {})
    notes = []
    for key, value in list(args.items()):
        if key in props:
            new = _coerce(value, props[key])
            if type(new) is not type(value) or new != value:
                args[key] = new
                notes.append(f"coerced {schema.name}.{key} to {props[key].get('type')}")
    return (json.dumps(args) if notes else arguments), notes


def _candidates(text: str) -> list[tuple[str, str]]:
    """(snippet, surrounding-text-to-remove) pairs that may hold a tool call."""
    found = [(m.group(2), m.group(0)) for m in _TAGGED.finditer(text)]
    if found:
        return found
    stripped = text.strip()
    fenced = _FENCE.match(stripped)
    if fenced:
        return [(fenced.group(1), text)]
    start = stripped.find("{")
    if start >= 0 and stripped.endswith("}"):
        return [(stripped[start:], stripped[start:])]
    return []


def calls_in_text(text: str, tool_names: set[str]) -> tuple[list[ToolCallPart], str, list[str]]:
    """Tool calls written as JSON inside text content; returns calls, leftover text, notes."""
    calls: list[ToolCallPart] = []
    leftover = text
    for snippet, whole in _candidates(text):
        try:
            value, _ = _loads_lenient(snippet)
        except ValueError:
            continue
        for item in value if isinstance(value, list) else [value]:
            if not isinstance(item, dict):
                continue
            inner = item.get("function")
            fn: dict[str, Any] = inner if isinstance(inner, dict) else item
            name = next((fn[k] for k in _NAME_KEYS if isinstance(fn.get(k), str)), None)
            if name not in tool_names:
                continue
            args: Any = next((fn[k] for k in _ARG_KEYS if k in fn), {})
            raw = args if isinstance(args, str) else json.dumps(args)
            calls.append(ToolCallPart(id=f"call_{uuid.uuid4().hex[:12]}", name=name, arguments=raw))
            leftover = leftover.replace(whole, "")
    notes = [f"recovered {len(calls)} tool call(s) written as text"] if calls else []
    return calls, leftover.strip(), notes


def normalize(message: Message, tools: list[ToolSchema]) -> tuple[Message, list[str]]:
    """Repair an assistant message's tool calls against the request's tools."""
    schemas = {t.name: t for t in tools}
    notes: list[str] = []
    parts: list[Any] = list(message.parts)
    if tools and not message.tool_calls and message.text:
        calls, leftover, found = calls_in_text(message.text, set(schemas))
        if calls:
            notes += found
            keep = [p for p in parts if not isinstance(p, TextPart)]
            parts = keep + ([ReasoningPart(text=leftover)] if leftover else []) + list(calls)
    fixed: list[Any] = []
    for part in parts:
        if isinstance(part, ToolCallPart):
            args, n1 = repair_arguments(part.arguments)
            args, n2 = coerce_arguments(args, schemas.get(part.name))
            args, n3 = scrub_arguments(args)
            notes += [f"{part.name}: {n}" for n in n1 + n2 + n3]
            part = part.model_copy(update={"arguments": args})
        fixed.append(part)
    return message.model_copy(update={"parts": fixed}), notes
