"""The context compiler: the system message's sections and the token count of each.

Layout, most stable first so providers can re-use a cached prefix: tool schemas (sent
alongside), system instructions, memory blocks, the recursive summary, memory metadata,
then the in-context messages. The system message is rebuilt only when memory changes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from memgpt.llm.tokens import MESSAGE_OVERHEAD, count_messages, count_tools, estimate_tokens
from memgpt.memory import blocks as block_ops
from memgpt.core.schemas import Block, Message, ToolSchema

SECTIONS = ("system", "tools", "blocks", "summary", "metadata", "messages")
_TAGS = {"blocks": "memory_blocks", "summary": "conversation_summary", "metadata": "memory_metadata"}


@dataclass(frozen=True)
class MemoryStats:
    """Counts shown in the memory metadata section."""

    recall_hidden: int
    recall_total: int
    archival: int
    last_edit: datetime | None
    now: datetime


def render_metadata(stats: MemoryStats) -> str:
    """The memory metadata section's body."""
    edited = f"{stats.last_edit:%Y-%m-%d %H:%M} UTC" if stats.last_edit else "never"
    return (
        f"- Current time: {stats.now:%Y-%m-%d %H:%M} UTC (at last memory change)\n"
        f"- Core memory last edited: {edited}\n"
        f"- Recall memory: {stats.recall_total} messages, {stats.recall_hidden} of them out of "
        "view (conversation_search)\n"
        f"- Archival memory: {stats.archival} passages (archival_memory_search)"
    )


def render_system(
    instructions: str, blocks: list[Block], summary: str, stats: MemoryStats, files: str = ""
) -> str:
    """The full system message text; ``files`` (the attached folders' ``<directories>``
    section, open files' text included) is counted with the memory blocks."""
    summary_body = summary or "(no earlier conversation has left the window yet)"
    directories = f"\n\n{files}" if files else ""
    return (
        f"{instructions}\n\n"
        f"<memory_blocks>\n{block_ops.render(blocks)}{directories}\n</memory_blocks>\n\n"
        f"<conversation_summary>\n{summary_body}\n</conversation_summary>\n\n"
        f"<memory_metadata>\n{render_metadata(stats)}\n</memory_metadata>"
    )


def files_shown(system_text: str, files: str) -> bool:
    """Whether a compiled system message shows exactly this ``<directories>`` section (files
    opened, closed or changed since it was compiled make it stale)."""
    return files in system_text if files else "\n\n<directories>\n" not in system_text


def memory_shown(system_text: str, instructions: str, blocks: list[Block]) -> bool:
    """Whether a compiled system message shows these instructions and blocks as they are now
    (a conversation's, compiled before another thread or an operator changed them, does not)."""
    return system_text.startswith(f"{instructions}\n\n<memory_blocks>\n{block_ops.render(blocks)}\n")


def system_sections(system_text: str) -> dict[str, str]:
    """Split a compiled system message back into its sections."""
    out: dict[str, str] = {}
    rest = system_text
    for key, tag in _TAGS.items():
        match = re.search(rf"<{tag}>.*?</{tag}>", rest, flags=re.S)
        if match:
            out[key] = match.group(0)
            rest = rest[: match.start()] + rest[match.end():]
    out["system"] = rest.strip()
    return out


def measure(system_text: str, tools: list[ToolSchema], messages: list[Message]) -> dict[str, int]:
    """Tokens per section of a request made of this system text, tools and messages."""
    parts = system_sections(system_text)
    sizes = {name: estimate_tokens(parts.get(name, "")) for name in ("system", "blocks", "summary", "metadata")}
    sizes["system"] += MESSAGE_OVERHEAD
    sizes["tools"] = count_tools(tools)
    sizes["messages"] = count_messages(messages)
    return {name: sizes[name] for name in SECTIONS}
