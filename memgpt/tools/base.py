"""MemGPT's base tools. Each function is its own implementation and schema."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta, timezone

from memgpt.core.errors import ToolError
from memgpt.memory import blocks as block_ops
from memgpt.memory.stores import Page
from memgpt.core.schemas import Message, Passage, Role
from memgpt.tools.registry import Tool, ToolContext, make_tool

MAX_RESULT_CHARS = 2000


MemoryAccess = ToolContext
"""The base tools' name for the context every tool receives."""


def _page_header(page: Page[Message] | Page[Passage], number: int, size: int) -> str:
    pages = max(1, math.ceil(page.total / size))
    return f"Showing {len(page.items)} of {page.total} results, page {number} of {pages}"


def _clip(text: str) -> str:
    return text if len(text) <= MAX_RESULT_CHARS else text[:MAX_RESULT_CHARS] + " [...]"


def _format_messages(page: Page[Message], number: int, size: int) -> str:
    if not page.items:
        return "No results found." if page.total == 0 else f"No results on page {number}."
    lines = [_page_header(page, number, size) + ":"]
    for m in page.items:
        who = "user" if m.role is Role.USER else "assistant"
        when = m.created_at.strftime("%Y-%m-%d %H:%M")
        lines.append(f"- [{when} {who}] {_clip(m.search_text())}")
    return "\n".join(lines)


def _parse_date(value: str, name: str) -> datetime:
    try:
        return datetime.combine(date.fromisoformat(value.strip()), datetime.min.time(), timezone.utc)
    except ValueError as exc:
        raise ToolError(f"{name} {value!r} is not a date in YYYY-MM-DD form.") from exc


async def send_message(ctx: MemoryAccess, message: str) -> str:
    """Send a message to the user. This is the only thing the user sees.

    Args:
        message: The full message for the user, in your persona's voice.
    """
    return "Sent message successfully."


async def core_memory_append(ctx: MemoryAccess, label: str, content: str) -> str:
    """Append text to a core memory block, on a new line.

    Args:
        label: The block to edit, e.g. "human" or "persona".
        content: The text to add. Keep it short and factual.
    """
    block = await ctx.get_block(label)
    updated = block_ops.append(block, content)
    await ctx.edit_block(label, updated)
    return f"Appended to {label!r} ({len(updated.value)}/{updated.limit} chars used)."


async def core_memory_replace(ctx: MemoryAccess, label: str, old_content: str, new_content: str) -> str:
    """Replace text in a core memory block; an empty new_content deletes the text.

    Args:
        label: The block to edit, e.g. "human" or "persona".
        old_content: Text exactly as it appears in the block now.
        new_content: The text to put in its place.
    """
    block = await ctx.get_block(label)
    updated = block_ops.replace(block, old_content, new_content)
    await ctx.edit_block(label, updated)
    return f"Replaced text in {label!r} ({len(updated.value)}/{updated.limit} chars used)."


async def conversation_search(ctx: MemoryAccess, query: str, page: int = 1) -> str:
    """Search the whole past conversation (recall memory) for words or phrases.

    Args:
        query: Words to look for; exact names and ids work.
        page: Result page, starting at 1.
    """
    page = max(1, page)
    found = await ctx.search_recall(query, None, None, page)
    return _format_messages(found, page, ctx.page_size)


async def conversation_search_date(
    ctx: MemoryAccess, start_date: str, end_date: str, page: int = 1
) -> str:
    """List past conversation messages between two dates, inclusive.

    Args:
        start_date: First day, YYYY-MM-DD (UTC).
        end_date: Last day, YYYY-MM-DD (UTC), included.
        page: Result page, starting at 1.
    """
    start = _parse_date(start_date, "start_date")
    end = _parse_date(end_date, "end_date") + timedelta(days=1)
    if end <= start:
        raise ToolError("end_date is before start_date.")
    page = max(1, page)
    found = await ctx.search_recall(None, start, end, page)
    return _format_messages(found, page, ctx.page_size)


async def archival_memory_insert(ctx: MemoryAccess, content: str) -> str:
    """Store text in archival memory for later search. Write it to stand on its own.

    Args:
        content: The text to store.
    """
    if not content.strip():
        raise ToolError("Nothing to store: content is empty.")
    passage = await ctx.insert_passage(content)
    return f"Stored in archival memory as {passage.id}."


async def archival_memory_search(ctx: MemoryAccess, query: str, page: int = 1) -> str:
    """Search archival memory by meaning and by exact words.

    Args:
        query: What to look for; exact names, ids and UUIDs work.
        page: Result page, starting at 1.
    """
    page = max(1, page)
    found = await ctx.search_archival(query, page)
    if not found.items:
        return "No results found." if found.total == 0 else f"No results on page {page}."
    lines = [_page_header(found, page, ctx.page_size) + ":"]
    for p in found.items:
        lines.append(f"- [{p.created_at:%Y-%m-%d}] {_clip(p.text)}")
    return "\n".join(lines)


async def pause_heartbeats(ctx: MemoryAccess, minutes: int) -> str:
    """Stop timed heartbeats for a while; you still wake on user messages.

    Args:
        minutes: How long to pause, 1 to 360 minutes.
    """
    if not 1 <= minutes <= 360:
        raise ToolError("minutes must be between 1 and 360.")
    until = datetime.now(timezone.utc) + timedelta(minutes=minutes)
    await ctx.pause_heartbeats(until)
    return f"Heartbeats paused until {until:%Y-%m-%d %H:%M} UTC."


def base_tools() -> list[Tool]:
    """The MemGPT base tool set, schemas generated and checked."""
    return [
        make_tool(send_message, heartbeat=False),
        make_tool(core_memory_append),
        make_tool(core_memory_replace),
        make_tool(conversation_search),
        make_tool(conversation_search_date),
        make_tool(archival_memory_insert),
        make_tool(archival_memory_search),
        make_tool(pause_heartbeats, heartbeat=False),
    ]
