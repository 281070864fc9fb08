"""Folders and files as agents see them: the records, the store port, and the file blocks.

A folder holds uploaded files; each file is parsed into text (kept whole, for opening and
grepping by line) and cut into embedded chunks (for semantic search). Attaching a folder to
an agent gives it every file of the folder, each open or closed. An open file shows a range
of its lines in the system message, inside ``<directories>``, as Letta renders file blocks;
how many files may be open and how many characters each shows scale with the agent's context
window (``file_limits``). Opening one file too many closes the least recently used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, Field

from memgpt.core.schemas import new_id, utcnow

if TYPE_CHECKING:  # annotations only: importing memgpt.MemGPT stays light
    import numpy as np

Status = Literal["pending", "parsing", "embedding", "completed", "error"]
IN_PROGRESS: tuple[Status, ...] = ("pending", "parsing", "embedding")
Duplicates = Literal["skip", "error", "suffix", "replace"]
"""What an upload whose name the folder already has does (Letta's ``duplicate_handling``)."""


class Folder(BaseModel):
    """A folder of files, owned by one user."""

    name: str
    owner: str
    embedding_model: str
    chunk_tokens: int
    description: str = ""
    instructions: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)
    id: str = Field(default_factory=lambda: new_id("source"))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class FileInfo(BaseModel):
    """An uploaded file and where its processing is (``content`` only when asked for)."""

    folder_id: str
    file_name: str
    original_file_name: str
    file_type: str
    file_size: int
    status: Status = "pending"
    error_message: str | None = None
    total_chunks: int = 0
    chunks_embedded: int = 0
    content: str | None = None
    id: str = Field(default_factory=lambda: new_id("file"))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


@dataclass(frozen=True)
class ChunkIn:
    """A chunk to store: its text, page (PDFs) and embedding."""

    text: str
    page: int | None
    vector: np.ndarray[Any, Any]


@dataclass(frozen=True)
class ChunkHit:
    """A chunk found by a search."""

    file_id: str
    file_name: str
    folder_name: str
    text: str
    page: int | None
    score: float


class AgentFile(BaseModel):
    """A file as one agent has it: open (showing lines ``start_line``..``end_line``, 1-based,
    inclusive; None: from the start, as far as the budget allows) or closed."""

    agent_id: str
    file_id: str
    folder_id: str
    folder_name: str
    file_name: str
    is_open: bool
    start_line: int | None
    end_line: int | None
    last_accessed_at: datetime
    created_at: datetime
    visible_content: str | None = None
    """The numbered lines it shows (open files, when listed for an operator)."""

    @property
    def label(self) -> str:
        """The name the agent knows the file by: ``folder/file``."""
        return f"{self.folder_name}/{self.file_name}"


@dataclass(frozen=True)
class FileLimits:
    """How many files an agent may have open, and how many characters each may show."""

    max_files_open: int
    chars_per_file: int


FILES_SHARE = 0.5
"""At most this share of the window (at 4 characters a token) goes to open files together."""


def file_limits(context_window: int) -> FileLimits:
    """Letta's tiers by context window: small windows get few, short views; large ones more
    and longer. Each view is also cut so that every open file together fills at most
    ``FILES_SHARE`` of the window (Letta's 8k tier alone would fill it), leaving room for
    the conversation."""
    if context_window <= 8_000:
        files, chars = 3, 5_000
    elif context_window <= 32_000:
        files, chars = 5, 15_000
    elif context_window <= 128_000:
        files, chars = 10, 25_000
    elif context_window <= 200_000:
        files, chars = 10, 40_000
    else:
        files, chars = 15, 40_000
    return FileLimits(files, max(500, min(chars, int(context_window * 4 * FILES_SHARE) // files)))


def numbered(content: str, start: int = 1, count: int | None = None, budget: int | None = None) -> tuple[str, int]:
    """Lines ``start``.. of content, each prefixed with its number, at most ``count`` lines and
    ``budget`` characters (a line that would pass it is cut and marked); the text and the
    number of the last line shown (start - 1 if none)."""
    lines = content.splitlines()
    start = max(1, start)
    end = len(lines) if count is None else min(len(lines), start - 1 + max(0, count))
    out: list[str] = []
    used, last = 0, start - 1
    for n in range(start, end + 1):
        line = f"{n}: {lines[n - 1]}"
        if budget is not None and used + len(line) + 1 > budget:
            room = budget - used - 1
            if room > 20:
                out.append(line[:room - 5] + " [...]")
                last = n
            break
        out.append(line)
        used += len(line) + 1
        last = n
    return "\n".join(out), last


@dataclass(frozen=True)
class FolderView:
    """An attached folder as the directories section shows it."""

    folder: Folder
    files: list[tuple[AgentFile, str]]
    """Each file with its visible text (empty when closed)."""


def render_directories(views: list[FolderView], limits: FileLimits) -> str:
    """The ``<directories>`` section: each attached folder, its files, open ones with text."""
    current = sum(1 for v in views for f, _ in v.files if f.is_open)
    out = ["<directories>", "<file_limits>", f"- current_files_open={current}",
           f"- max_files_open={limits.max_files_open}", "</file_limits>"]
    for view in views:
        out.append(f'<directory name="{view.folder.name}">')
        if view.folder.description:
            out.append(f"<description>{view.folder.description}</description>")
        if view.folder.instructions:
            out.append(f"<instructions>{view.folder.instructions}</instructions>")
        for f, text in view.files:
            status = "open" if f.is_open else "closed"
            out.append(f'<file status="{status}" name="{f.label}">')
            out.append(f"<metadata>\n- chars_current={len(text)}\n- chars_limit={limits.chars_per_file}\n</metadata>")
            if f.is_open and text:
                out.append(f"<value>\n{text}\n</value>")
            out.append("</file>")
        out.append("</directory>")
    out.append("</directories>")
    return "\n".join(out)


class FolderStore(Protocol):
    """Folders, files, their chunks and which agents have them (storage implements it)."""

    async def create_folder(self, folder: Folder) -> Folder: ...
    async def get_folder(self, folder_id: str, owner: str | None = None) -> Folder: ...
    async def list_folders(self, owner: str, name: str | None = None) -> list[Folder]: ...
    async def update_folder(self, folder: Folder) -> Folder: ...
    async def delete_folder(self, folder_id: str) -> list[str]: ...
    async def add_file(self, info: FileInfo, worker: str) -> FileInfo: ...
    async def get_file(self, file_id: str, *, content: bool = False) -> FileInfo: ...
    async def list_files(self, folder_id: str, *, content: bool = False) -> list[FileInfo]: ...
    async def files_named(self, folder_id: str, name: str) -> list[FileInfo]: ...
    async def names_like(self, folder_id: str) -> set[str]: ...
    async def delete_file(self, file_id: str) -> list[str]: ...
    async def set_status(self, file_id: str, status: Status, *, error: str | None = None,
                         content: str | None = None, total_chunks: int | None = None) -> None: ...
    async def add_chunks(self, info: FileInfo, model: str, first_seq: int, chunks: list[ChunkIn]) -> int: ...
    async def fail(self, file_id: str, message: str) -> None: ...
    async def abandoned(self, is_dead: Callable[[str], bool]) -> list[str]: ...
    async def attach(self, agent_id: str, folder_id: str, open_limit: int, chars: int) -> None: ...
    async def detach(self, agent_id: str, folder_id: str) -> None: ...
    async def agent_folders(self, agent_id: str) -> list[Folder]: ...
    async def folder_agents(self, folder_id: str) -> list[str]: ...
    async def agent_files(self, agent_id: str) -> list[AgentFile]: ...
    async def set_open(self, agent_id: str, file_id: str, is_open: bool, *,
                       start_line: int | None = None, end_line: int | None = None) -> None: ...
    async def enforce_open_limit(self, agent_id: str, max_open: int, keep: str | None = None) -> None: ...
    async def contents(self, file_ids: list[str]) -> dict[str, str]: ...
    async def nearest(self, folder_ids: list[str], model: str, vector: np.ndarray[Any, Any],
                      k: int) -> list[tuple[str, float]]: ...
    async def lexical(self, folder_ids: list[str], query: str, k: int) -> list[tuple[str, float, bool]]: ...
    async def chunks(self, ids: list[str]) -> list[ChunkHit]: ...
