"""Custom tools: a user's Python function, described by its source and run in the sandbox.

Creating a tool never runs its code. The source is parsed with ``ast``; the tool's function
is the last top-level ``def`` (or the one named), and its schema comes from its signature
annotations and Google-style docstring through the same ``build_schema`` as the base tools.
Annotations are read, not evaluated: ``str``, ``int``, ``float``, ``bool``, ``list[...]``,
``dict[str, ...]``, ``Optional[...]``, ``X | None``, ``Union[...]``, ``Literal[...]`` and
``Any`` (bare or through ``typing.``); defaults must be literals.
"""

from __future__ import annotations

import ast
import re
import types
import typing
from collections.abc import Collection
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ValidationError

from memgpt.core.errors import ToolDefinitionError
from memgpt.core.schemas import ToolDef, ToolSchema, utcnow
from memgpt.tools.registry import Param, Tool, build_schema
from memgpt.tools.sandbox import SandboxLimits, run_in_sandbox

MAX_SOURCE_CHARS = 100_000
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_TYPES: dict[str, Any] = {
    "str": str, "int": int, "float": float, "bool": bool, "list": list, "dict": dict,
    "List": list, "Dict": dict, "Any": Any, "None": None, "NoneType": None,
}
_ARITY = {"list": 1, "List": 1, "dict": 2, "Dict": 2, "Optional": 1}
SUPPORTED = ("str, int, float, bool, list[...], dict[str, ...], Optional[...], X | None, "
             "Union[...], Literal[...], Any")


class _Unsupported(Exception):
    """An annotation outside the supported types."""


def _union(args: list[Any]) -> Any:
    return typing.Union.__getitem__(tuple(args))


def _generic(base: str, args: list[Any]) -> Any:
    """``list[X]``, ``dict[K, V]``, ``Optional[X]`` or ``Union[...]`` of already-read types."""
    wanted = _ARITY.get(base)
    if wanted is not None and len(args) != wanted:
        raise _Unsupported(f"{base}[...] takes {wanted} type argument{'s' if wanted > 1 else ''}")
    if base in ("list", "List"):
        return types.GenericAlias(list, tuple(args))
    if base in ("dict", "Dict"):
        return types.GenericAlias(dict, tuple(args))
    return _union([*args, None] if base == "Optional" else args)


def _typename(node: ast.expr) -> str | None:
    """``str`` for ``str`` and ``typing.str``-style attributes; None for anything else."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in ("typing", "t"):
        return node.attr
    return None


def annotation_type(node: ast.expr) -> Any:
    """The Python type an annotation names, read from its syntax tree (never evaluated)."""
    if isinstance(node, ast.Constant) and node.value is None:
        return None
    if isinstance(node, ast.Constant) and isinstance(node.value, str):  # a string annotation
        try:
            return annotation_type(ast.parse(node.value, mode="eval").body)
        except SyntaxError as exc:
            raise _Unsupported(f"string annotation {node.value!r} is not valid Python") from exc
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _union([annotation_type(node.left), annotation_type(node.right)])
    name = _typename(node)
    if name is not None and name in _TYPES:
        return _TYPES[name]
    if isinstance(node, ast.Subscript):
        base = _typename(node.value)
        items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if base == "Literal":
            try:
                values = tuple(ast.literal_eval(item) for item in items)
            except ValueError as exc:
                raise _Unsupported("Literal[...] takes literal values only") from exc
            return typing.Literal.__getitem__(values)
        if base in ("list", "List", "dict", "Dict", "Optional", "Union"):
            return _generic(base, [annotation_type(item) for item in items])
    raise _Unsupported(f"type {ast.unparse(node)!r} is not supported (use {SUPPORTED})")


@dataclass(frozen=True)
class ParsedFunction:
    """A tool function as read from source: its name, parameters and docstring."""

    name: str
    params: list[Param]
    doc: str


def _pick(
    tree: ast.Module, function: str | None, prefer: str | None
) -> ast.FunctionDef | ast.AsyncFunctionDef:
    defs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    if function is None and prefer is not None and any(d.name == prefer for d in defs):
        function = prefer
    if function is not None:
        named = [d for d in defs if d.name == function]
        if not named:
            found = ", ".join(d.name for d in defs) or "none"
            raise ToolDefinitionError(f"the source has no top-level function {function!r} (found: {found})")
        return named[-1]
    if not defs:
        raise ToolDefinitionError("the source defines no top-level function (def name(...): ...)")
    return defs[-1]


def _params(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[Param]:
    a = fn.args
    if a.vararg or a.kwarg:
        raise ToolDefinitionError(f"tool {fn.name!r}: *args and **kwargs are not supported")
    positional = [*a.posonlyargs, *a.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
    pairs = [*zip(positional, defaults), *zip(a.kwonlyargs, a.kw_defaults)]
    params = []
    for arg, default in pairs:
        if arg.annotation is None:
            raise ToolDefinitionError(f"tool {fn.name!r}: parameter {arg.arg!r} has no type annotation")
        try:
            kind = annotation_type(arg.annotation)
        except _Unsupported as exc:
            raise ToolDefinitionError(f"tool {fn.name!r}: parameter {arg.arg!r}: {exc}") from exc
        value: Any = ...
        if default is not None:
            try:
                value = ast.literal_eval(default)
            except ValueError as exc:
                raise ToolDefinitionError(
                    f"tool {fn.name!r}: the default of {arg.arg!r} must be a literal "
                    f"(a number, string, None, list, ...), not {ast.unparse(default)!r}"
                ) from exc
        params.append(Param(arg.arg, kind, value))
    return params


def parse_function(source: str, function: str | None = None, prefer: str | None = None) -> ParsedFunction:
    """Read the tool function from source without running it; ToolDefinitionError if unusable.

    The function is the one named ``function``, else ``prefer`` if defined, else the last one.
    """
    if not source.strip():
        raise ToolDefinitionError("source_code is empty")
    if len(source) > MAX_SOURCE_CHARS:
        raise ToolDefinitionError(f"source_code is longer than {MAX_SOURCE_CHARS} characters")
    try:
        tree = ast.parse(source)
        compile(tree, "<tool>", "exec", dont_inherit=True)  # the compiler's own checks; nothing runs
    except SyntaxError as exc:
        where = f" at line {exc.lineno}" if exc.lineno else ""
        raise ToolDefinitionError(f"the source has a syntax error{where}: {exc.msg}") from exc
    except (ValueError, RecursionError, MemoryError) as exc:
        raise ToolDefinitionError(f"the source cannot be parsed: {exc or type(exc).__name__}") from exc
    fn = _pick(tree, function, prefer)
    if not NAME.match(fn.name):
        raise ToolDefinitionError(f"tool name {fn.name!r} is too long (64 characters at most)")
    doc = ast.get_docstring(fn)
    if not doc:
        raise ToolDefinitionError(f"tool {fn.name!r} has no docstring to describe it")
    return ParsedFunction(fn.name, _params(fn), doc)


@lru_cache(maxsize=512)
def _compiled(source: str, function: str) -> tuple[ToolSchema, type[BaseModel]]:
    parsed = parse_function(source, function)
    return build_schema(parsed.name, parsed.doc, parsed.params)


def custom_tool(
    source: str,
    *,
    owner: str,
    function: str | None = None,
    prefer: str | None = None,
    description: str | None = None,
    tags: list[str] | None = None,
    return_char_limit: int | None = None,
    reserved: Collection[str] = (),
) -> ToolDef:
    """A new custom tool from source (checked, not run); its name is the function's."""
    parsed = parse_function(source, function, prefer)
    if parsed.name in reserved:
        raise ToolDefinitionError(
            f"tool name {parsed.name!r} is taken by a base tool: rename the function"
        )
    spec, _ = _compiled(source, parsed.name)
    if description is not None and description.strip():
        spec = spec.model_copy(update={"description": description.strip()})
    now = utcnow()
    fields: dict[str, Any] = {"return_char_limit": return_char_limit} if return_char_limit is not None else {}
    try:
        return ToolDef(name=parsed.name, spec=spec, owner=owner, source_code=source, tags=tags or [],
                       created_at=now, updated_at=now, **fields)
    except ValidationError as exc:
        raise ToolDefinitionError(f"tool {parsed.name!r}: {exc.errors()[0]['msg']}") from exc


def runnable(tool: ToolDef, limits: SandboxLimits) -> Tool:
    """The registry tool that validates a call's arguments and runs it in the sandbox."""
    _, args_model = _compiled(tool.source_code, tool.name)

    async def call(ctx: object, **args: Any) -> str:
        return await run_in_sandbox(
            tool.source_code, tool.name, args, limits=limits, max_chars=tool.return_char_limit
        )

    return Tool(tool.name, call, tool.spec, args_model, heartbeat=True, external=True)
