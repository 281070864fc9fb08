"""File tools (Letta's names and arguments): ``open_files``, ``grep_files`` and
``semantic_search_files``. An agent has them while at least one folder is attached; they
work through the ``files`` port its runtime offers (``memgpt.memory.file_view.AgentFiles``).
"""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from memgpt.core.errors import ToolError
from memgpt.memory.file_view import AgentFiles, FileToolError, OpenRequest
from memgpt.tools.registry import Tool, ToolContext, make_tool

FILE_TOOL_NAMES = ("open_files", "grep_files", "semantic_search_files")


class FileContext(ToolContext, Protocol):
    """A tool context that also offers the agent's files (None: it has no folder)."""

    files: AgentFiles | None


class FileOpenRequest(BaseModel):
    """One file to open, and which lines."""

    model_config = ConfigDict(extra="forbid")
    file_name: str = Field(description="The file as folder/file (as listed in <directories>).")
    offset: int | None = Field(default=None, description="First line to show, counted from 0.")
    length: int | None = Field(default=None, description="How many lines to show (default: as many as fit).")


def _port(ctx: FileContext) -> AgentFiles:
    files = ctx.files
    if files is None:
        raise ToolError("No folder is attached to you, so there are no files.")
    return files


async def open_files(ctx: FileContext, file_requests: list[FileOpenRequest], close_all_others: bool = False) -> str:
    """Open files (or line ranges of them) so their text shows in your <directories> section;
    the least recently used open file closes when too many are open.

    Args:
        file_requests: The files to open, each with an optional line offset and length.
        close_all_others: Close every other open file first.
    """
    try:
        return await _port(ctx).open(
            [OpenRequest(r.file_name, r.offset, r.length) for r in file_requests], close_all_others)
    except FileToolError as exc:
        raise ToolError(str(exc)) from exc


async def grep_files(ctx: FileContext, pattern: str, include: str | None = None,
                     context_lines: int = 1, offset: int = 0) -> str:
    """Find lines matching a regular expression in your files (20 matches per call).

    Args:
        pattern: A word or regular expression (case-insensitive).
        include: Only files whose folder/file name matches this regular expression.
        context_lines: Lines of context before and after each match (0-5).
        offset: Matches to skip, for the next page (the result says which offset to use).
    """
    try:
        return await _port(ctx).grep(pattern, include, context_lines, offset)
    except FileToolError as exc:
        raise ToolError(str(exc)) from exc


async def semantic_search_files(ctx: FileContext, query: str, limit: int = 5) -> str:
    """Search your files by meaning (and by exact words); returns the best matching passages.

    Args:
        query: What to look for.
        limit: How many passages to return (1-10).
    """
    try:
        return await _port(ctx).search(query, limit)
    except FileToolError as exc:
        raise ToolError(str(exc)) from exc


def _inline(schema: dict[str, Any]) -> None:
    """Replace ``$ref``s with the definitions they name (some providers refuse ``$defs``)."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                target = dict(defs[ref.rsplit("/", 1)[1]])
                target.pop("title", None)
                return walk(target)
            return {k: walk(v) for k, v in node.items() if k != "title"}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    for key, value in list(schema.items()):
        schema[key] = walk(value)


def file_tools() -> list[Tool]:
    """The file tools, built once per call (cheap)."""
    tools = [make_tool(open_files), make_tool(grep_files), make_tool(semantic_search_files)]
    for tool in tools:
        _inline(tool.schema.parameters)
    return tools
