"""Eviction: which messages leave the window, and the recursive summary that replaces them."""

from __future__ import annotations

from memgpt.llm.base import Model, ModelRequest
from memgpt.llm.tokens import count_message, estimate_tokens
from memgpt.core.prompts import SUMMARY_INSTRUCTIONS
from memgpt.core.schemas import Message, Role, TextPart

_RESULT_CLIP = 600


def eviction_cut(messages: list[Message], *, min_tokens: int = 0, keep_last: int = 1) -> int:
    """Index of the first message to keep when about half the message tokens must go.

    At least half the message tokens go, and at least ``min_tokens``. The cut lands on a
    user or event message where possible, and never separates a tool call from its result.
    At least ``keep_last`` messages stay.
    """
    limit = len(messages) - keep_last
    if limit <= 0:
        return 0
    sizes = [count_message(m) for m in messages]
    target, acc, cut = max(sum(sizes) / 2, min_tokens), 0, 0
    while cut < limit and acc < target:
        acc += sizes[cut]
        cut += 1
    for i in range(cut, limit + 1):
        if messages[i].role in (Role.USER, Role.EVENT):
            return i
    while cut > 0 and messages[cut].role is Role.TOOL:
        cut -= 1
    return cut


def transcript_line(message: Message) -> str:
    """One message rendered for the summarizer."""
    if message.role is Role.USER:
        return f"user: {message.text}"
    if message.role is Role.EVENT:
        return f"system event: {message.text}"
    if message.role is Role.TOOL:
        return "\n".join(
            f"result of {r.name}{' (error)' if r.is_error else ''}: {r.content[:_RESULT_CLIP]}"
            for r in message.tool_results
        )
    lines = []
    if message.reasoning:
        lines.append(f"assistant (thinking): {message.reasoning}")
    lines.extend(f"assistant: {t}" for t in message.sent_messages())
    lines.extend(
        f"assistant called {c.name}({c.arguments[:_RESULT_CLIP]})"
        for c in message.tool_calls
        if c.name != "send_message"
    )
    return "\n".join(lines)


def _chunks(lines: list[str], budget: int) -> list[list[str]]:
    """Group transcript lines into chunks of at most budget tokens (long lines clipped)."""
    chunks: list[list[str]] = [[]]
    used = 0
    for line in lines:
        cost = estimate_tokens(line)
        if cost > budget:
            line = line[: budget * 3]
            cost = estimate_tokens(line)
        if used + cost > budget and chunks[-1]:
            chunks.append([])
            used = 0
        chunks[-1].append(line)
        used += cost
    return chunks


async def summarize(
    model: Model, previous: str, evicted: list[Message], *, window: int, summary_tokens: int
) -> str:
    """Fold evicted messages into the previous summary, one window-sized chunk at a time."""
    words = max(20, int(summary_tokens * 0.7))
    instructions = SUMMARY_INSTRUCTIONS.format(words=words)
    overhead = estimate_tokens(instructions) + 2 * summary_tokens + 64
    budget = max(128, window - overhead)
    lines = [t for t in (transcript_line(m) for m in evicted) if t]
    summary = previous
    for chunk in _chunks(lines, budget):
        body = (
            f"Previous summary:\n{summary or '(none)'}\n\nTranscript leaving the window:\n"
            + "\n".join(chunk)
        )
        request = ModelRequest(
            messages=[
                Message(role=Role.SYSTEM, parts=[TextPart(text=instructions)]),
                Message.user(body),
            ],
            purpose="summary",
            max_tokens=summary_tokens,
        )
        response = await model.complete(request)
        text = response.message.text or response.message.reasoning
        summary = _clip_tokens(text.strip(), summary_tokens) or summary
    return summary


def _clip_tokens(text: str, limit: int) -> str:
    """Cut text to about limit tokens at a word boundary (a guard against runaway output)."""
    if estimate_tokens(text) <= limit:
        return text
    words = text.split()
    lo, hi = 0, len(words)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if estimate_tokens(" ".join(words[:mid])) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return " ".join(words[:lo])
