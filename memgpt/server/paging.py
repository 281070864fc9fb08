"""Letta's cursor pagination: ``after``/``before`` ids relative to the requested order."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, TypeVar

from memgpt.core.errors import NotFoundError
from memgpt.core.schemas import Passage
from memgpt.formats import letta as ls
from memgpt.services.service import AgentService

T = TypeVar("T")
Order = Literal["asc", "desc"]


def page(
    items: list[T], key: Callable[[T], str], *, after: str | None, before: str | None,
    limit: int | None, order: Order, what: str = "item",
) -> list[T]:
    """A page of an in-memory list given oldest first: cursors exclusive, limit from the cursor side."""
    ordered = items[::-1] if order == "desc" else list(items)
    ids = [key(x) for x in ordered]
    start, end = 0, len(ordered)
    for cursor in (after, before):
        if cursor is not None and cursor not in ids:
            raise NotFoundError(f"no {what} {cursor!r} to page from")
    if after is not None:
        start = ids.index(after) + 1
    if before is not None:
        end = ids.index(before)
    window = ordered[start:end]
    if limit is not None:
        window = window[-limit:] if before is not None and after is None else window[:limit]
    return window


def add_whole(groups: list[list[T]], converted: list[T], total: int, limit: int) -> int:
    """Add one stored message's Letta messages to a page of ``limit`` holding ``total``; the new
    total. A stored message is never split: one that would overflow a page that already holds
    something is left out, and the page is full (``limit`` is returned)."""
    if converted and groups and total + len(converted) > limit:
        return limit
    if converted:
        groups.append(converted)
    return total + len(converted)


async def history(
    service: AgentService, agent: str, *, after: str | None, before: str | None, limit: int,
    order: Order, use_assistant_message: bool = True, types: Sequence[str] | None = None,
) -> list[ls.LettaMessage]:
    """A page of an agent's recall memory as Letta messages.

    ``limit`` counts Letta messages, but one stored message (whose Letta messages share its
    id, the cursor) is never split: a page holds at least one whole stored message and no
    more Letta messages than ``limit`` otherwise. Stored messages with nothing to show
    (the return of a send_message call) are skipped over, so a page is empty only at the end.
    """
    a = (await service.get_message(agent, after)).seq if after else None
    b = (await service.get_message(agent, before)).seq if before else None
    lo, hi = (b, a) if order == "desc" else (a, b)  # exclusive seq bounds
    from_low = (after is not None or before is None) if order == "asc" else (before is not None and after is None)
    chunk = max(limit, 20)
    groups: list[list[ls.LettaMessage]] = []
    total = 0
    while total < limit:
        if from_low:
            batch = await service.list_messages(agent, limit=chunk, after=-1 if lo is None else lo, before=hi)
        else:
            batch = await service.list_messages(agent, limit=chunk, before=hi)
            batch = [m for m in reversed(batch) if lo is None or m.seq > lo]
        for m in batch:
            converted = ls.messages_to_letta([m], use_assistant_message=use_assistant_message, types=types)
            total = add_whole(groups, converted, total, limit)
            lo, hi = (m.seq, hi) if from_low else (lo, m.seq)
            if total >= limit:
                break
        if len(batch) < chunk or (lo is not None and hi is not None and hi - lo <= 1):
            break
    if (order == "asc") != from_low:
        groups.reverse()
    if order == "desc":
        return [x for g in groups for x in reversed(g)]
    return [x for g in groups for x in g]



_SCAN = 500


async def all_passages(service: AgentService, agent: str) -> list[Passage]:
    """Every archival passage of the agent, newest first."""
    out: list[Passage] = []
    while True:
        page = await service.list_passages(agent, limit=_SCAN, offset=len(out))
        out += page
        if len(page) < _SCAN:
            return out
