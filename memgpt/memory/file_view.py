"""An agent's files as its tools use them: open at a line range, grep, semantic search, and
the ``<directories>`` section of its system message.

Results are bounded (a page of grep matches, a capped number of search hits, each clipped)
and say how to get the next page, so no call can flood the context window.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import regex  # type: ignore[import-untyped]

from memgpt.embeddings.base import Embedder, embed_query
from memgpt.memory.files import (
    AgentFile,
    FileLimits,
    FolderStore,
    FolderView,
    file_limits,
    numbered,
    render_directories,
)

GREP_PAGE = 20
"""Matches shown per grep call."""
MAX_PATTERN = 500
GREP_SECONDS = 2.0
"""How long one grep may match in all: a pattern that backtracks catastrophically (``(a+)+$``)
is stopped there with an error result instead of pinning a core (``regex`` releases the GIL
while it matches, so the server's loop keeps running meanwhile)."""
MAX_LINE_CHARS = 300
MAX_SEARCH_HITS = 10
HIT_CHARS = 1_200
CANDIDATES = 50


class FileToolError(Exception):
    """A file tool was called wrongly; the message is for the model."""


@dataclass(frozen=True)
class OpenRequest:
    """Open ``file_name`` (``folder/file``, or just ``file`` when unique) at ``offset`` (a
    0-based line) for ``length`` lines (None: as much as the budget allows)."""

    file_name: str
    offset: int | None = None
    length: int | None = None


class AgentFiles:
    """One agent's files over the folder store (the file tools' port)."""

    def __init__(self, store: FolderStore, embedder: Embedder, agent_id: str, context_window: int) -> None:
        self.store, self.embedder, self.agent_id = store, embedder, agent_id
        self.limits: FileLimits = file_limits(context_window)

    async def render(self) -> str:
        """The ``<directories>`` section ("" when the agent has no folder)."""
        folders = await self.store.agent_folders(self.agent_id)
        if not folders:
            return ""
        files = await self.store.agent_files(self.agent_id)
        texts = await self.store.contents([f.file_id for f in files if f.is_open])
        views = []
        for folder in folders:
            mine = [f for f in files if f.folder_id == folder.id]
            views.append(FolderView(folder, [(f, self.visible(f, texts.get(f.file_id, ""))) for f in mine]))
        return render_directories(views, self.limits)

    def visible(self, f: AgentFile, content: str) -> str:
        """The numbered lines an open file shows, within the per-file character budget."""
        if not f.is_open:
            return ""
        start = f.start_line or 1
        count = None if f.end_line is None else f.end_line - start + 1
        return numbered(content, start, count, self.limits.chars_per_file)[0]

    async def _find(self, name: str) -> AgentFile:
        files = await self.store.agent_files(self.agent_id)
        exact = [f for f in files if f.label == name]
        loose = exact or [f for f in files if f.file_name == name]
        if len(loose) == 1:
            return loose[0]
        known = ", ".join(f.label for f in files) or "(none)"
        if not loose:
            raise FileToolError(f"No file named {name!r}. Files: {known}")
        raise FileToolError(f"{name!r} is ambiguous: give it as folder/file. Files: {known}")

    async def open(self, requests: list[OpenRequest], close_all_others: bool = False) -> str:
        """Open files at line ranges; the least recently used open files close past the cap."""
        if not requests:
            raise FileToolError("Give at least one file to open.")
        if len(requests) > self.limits.max_files_open:
            raise FileToolError(f"At most {self.limits.max_files_open} files can be open at once.")
        targets = [(await self._find(r.file_name), r) for r in requests]
        lines = []
        if close_all_others:
            keep = {f.file_id for f, _ in targets}
            others = [f for f in await self.store.agent_files(self.agent_id) if f.is_open and f.file_id not in keep]
            for f in others:
                await self.store.set_open(self.agent_id, f.file_id, False)
            if others:
                lines.append(f"Closed {', '.join(f.label for f in others)}.")
        for f, r in targets:
            start = max(0, r.offset or 0) + 1
            end = None if r.length is None else start + max(1, r.length) - 1
            closed = await self.open_one(f.file_id, start, end)
            where = f"lines {start}-{end}" if end is not None else f"from line {start}"
            lines.append(f"Opened {f.label} ({where})." + (f" Closed {', '.join(closed)}." if closed else ""))
        return " ".join(lines)

    async def open_one(self, file_id: str, start: int | None = None, end: int | None = None) -> list[str]:
        """Open one file; the labels of files closed to stay within the cap."""
        before = {f.file_id: f for f in await self.store.agent_files(self.agent_id) if f.is_open}
        await self.store.set_open(self.agent_id, file_id, True, start_line=start, end_line=end)
        await self.store.enforce_open_limit(self.agent_id, self.limits.max_files_open, file_id)
        after = {f.file_id for f in await self.store.agent_files(self.agent_id) if f.is_open}
        return [f.label for fid, f in before.items() if fid not in after]

    async def grep(self, pattern: str, include: str | None = None, context_lines: int = 1,
                   offset: int = 0) -> str:
        """Lines matching a regular expression (case-insensitive), a page of them with context."""
        rx, name_rx = _compile(pattern, "pattern"), _compile(include, "include") if include else None
        deadline = time.monotonic() + GREP_SECONDS
        files = await self.store.agent_files(self.agent_id)
        if name_rx is not None:  # a label is one line: matched as one, under the same deadline
            named = await asyncio.to_thread(_grep_all, name_rx, [(f.label, f.label) for f in files], deadline)
            chosen = {label for label, _, _ in named}
            files = [f for f in files if f.label in chosen]
        texts = await self.store.contents([f.file_id for f in files])
        found = await asyncio.to_thread(_grep_all, rx, [(f.label, texts.get(f.file_id, "")) for f in files], deadline)
        if not found:
            return f"No matches for {pattern!r} in {len(files)} files."
        context_lines = min(max(0, context_lines), 5)
        offset = max(0, offset)
        per_file: dict[str, int] = {}
        for label, _, _ in found:
            per_file[label] = per_file.get(label, 0) + 1
        head = (f"Found {len(found)} matches in {len(per_file)} files: "
                + ", ".join(f"{k} ({v})" for k, v in per_file.items()))
        page = found[offset:offset + GREP_PAGE]
        out = [head, f"Showing matches {offset + 1}-{offset + len(page)}:" if page else
               f"No matches past offset {offset}."]
        for label, n, lines in page:
            lo, hi = max(1, n - context_lines), min(len(lines), n + context_lines)
            out.append(f"=== {label}:{n} ===")
            out.extend(f"{'>' if i == n else ' '} {i}: {_clip(lines[i - 1], MAX_LINE_CHARS)}"
                       for i in range(lo, hi + 1))
        if offset + GREP_PAGE < len(found):
            out.append(f"More matches: call grep_files again with offset={offset + GREP_PAGE}.")
        return "\n".join(out)

    async def search(self, query: str, limit: int = 5) -> str:
        """Chunks nearest in meaning (and by words), best first."""
        if not query.strip():
            raise FileToolError("Give a query.")
        limit = min(max(1, limit), MAX_SEARCH_HITS)
        folders = [f.id for f in await self.store.agent_folders(self.agent_id)]
        if not folders:
            return "No folders are attached."
        vector = (await asyncio.to_thread(embed_query, self.embedder, [query]))[0]
        near = await self.store.nearest(folders, self.embedder.name, vector, CANDIDATES)
        words = await self.store.lexical(folders, query, CANDIDATES)
        scores: dict[str, float] = {}
        for rank, (cid, _) in enumerate(near):
            scores[cid] = scores.get(cid, 0.0) + 1.0 / (10 + rank)
        for rank, (cid, _, exact) in enumerate(words):
            scores[cid] = scores.get(cid, 0.0) + 1.0 / (10 + rank) + (1.0 if exact else 0.0)
        best = sorted(scores, key=lambda c: -scores[c])[:limit]
        hits = await self.store.chunks(best)
        if not hits:
            return "No results found."
        out = [f"Top {len(hits)} matching chunks:"]
        for i, h in enumerate(hits, 1):
            page = f", page {h.page}" if h.page is not None else ""
            out.append(f"{i}. {h.folder_name}/{h.file_name}{page}:\n{_clip(h.text, HIT_CHARS)}")
        return "\n".join(out)


def _compile(pattern: str | None, what: str) -> regex.Pattern[str]:
    if not pattern:
        raise FileToolError(f"Give a {what}.")
    if len(pattern) > MAX_PATTERN:
        raise FileToolError(f"The {what} is longer than {MAX_PATTERN} characters.")
    try:
        return regex.compile(pattern, regex.IGNORECASE)
    except regex.error as exc:
        raise FileToolError(f"Invalid regular expression {pattern!r}: {exc}") from exc


def _grep_all(rx: regex.Pattern[str], files: list[tuple[str, str]],
              deadline: float) -> list[tuple[str, int, list[str]]]:
    """Every (file, line number, lines) whose line matches; FileToolError past ``deadline``."""
    found = []
    try:
        for label, text in files:
            lines = text.splitlines()
            for n, line in enumerate(lines, 1):
                if rx.search(line, timeout=max(deadline - time.monotonic(), 0.001)):
                    found.append((label, n, lines))
    except TimeoutError:
        raise FileToolError(f"The regular expression {rx.pattern!r} took longer than {GREP_SECONDS:g} seconds "
                            "(it backtracks too much); simplify it, e.g. avoid nested repeats like (a+)+.") from None
    return found


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + " [...]"
