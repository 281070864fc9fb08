"""Folders and files (the MemGPT paper's document analysis, served as Letta serves it).

A folder belongs to the user who made it (another user gets 404 for it, its files and its
agents). Uploads are copied to ``<home>/uploads`` and processed in the background
(``file_processing``). Attaching a folder gives an agent its processed files (the newest
open, up to the cap its context window allows) and the file tools; detaching the last
folder takes the tools away. Opening and closing change what the next model request holds.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import IO, Any

from memgpt.core.errors import AlreadyExistsError, InvalidRequestError, NotFoundError
from memgpt.core.schemas import AgentState
from memgpt.memory.file_view import AgentFiles
from memgpt.memory.files import AgentFile, Duplicates, FileInfo, Folder, file_limits
from memgpt.services import file_processing as processing
from memgpt.services.base import ServiceBase
from memgpt.services.documents import DEFAULT_CHUNK_TOKENS, MIN_CHUNK_TOKENS
from memgpt.services.file_readers import UPLOAD_SUFFIXES, file_type
from memgpt.services.kernel import holder_is_dead
from memgpt.storage.sql_folders import SqlFolderStore

MAX_UPLOAD_BYTES = 200 * 1024 * 1024
"""The largest upload accepted (the server's body cap for uploads is the same)."""
_NAME = re.compile(r"^[^/\\\x00]{1,200}$")


def _clean_name(name: str) -> str:
    """A file name as stored: its last path part, checked."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not _NAME.match(base) or base in (".", ".."):
        raise InvalidRequestError(f"invalid file name {name!r}")
    return base


def _suffixed(name: str, taken: set[str]) -> str:
    """``name_(n).ext`` with the smallest n not taken (Letta's rule)."""
    path = Path(name)
    n = 1
    while f"{path.stem}_({n}){path.suffix}" in taken:
        n += 1
    return f"{path.stem}_({n}){path.suffix}"


class FoldersApi(ServiceBase):
    """Folders, their files, and the files agents have through them."""

    @property
    def folder_store(self) -> SqlFolderStore:
        """Where folders live (swept of interrupted processing on first use)."""
        return self.kernel.storage.folders

    async def _store(self) -> SqlFolderStore:
        store = self.folder_store
        await processing.sweep(self.kernel, store, holder_is_dead)
        return store

    # --- folders ----------------------------------------------------------------------------
    async def create_folder(self, name: str, *, description: str = "", instructions: str = "",
                            metadata: dict[str, Any] | None = None, chunk_tokens: int | None = None) -> Folder:
        """A new, empty folder (names are unique per user)."""
        if not name.strip() or "/" in name or len(name) > 200:
            raise InvalidRequestError("a folder name must be 1-200 characters without '/'")
        tokens = chunk_tokens or DEFAULT_CHUNK_TOKENS
        if not MIN_CHUNK_TOKENS <= tokens <= 4000:
            raise InvalidRequestError(f"embedding_chunk_size must be {MIN_CHUNK_TOKENS}-4000 tokens")
        folder = Folder(name=name, owner=self.owner, embedding_model=self.embedder.name, chunk_tokens=tokens,
                        description=description, instructions=instructions, metadata=metadata or {})
        return await (await self._store()).create_folder(folder)

    async def list_folders(self, name: str | None = None) -> list[Folder]:
        """The user's folders, oldest first (by exact name if given)."""
        return await (await self._store()).list_folders(self.owner, name)

    async def retrieve_folder(self, folder_id: str) -> Folder:
        """One of the user's folders."""
        return await (await self._store()).get_folder(folder_id, self.owner)

    async def modify_folder(self, folder_id: str, *, name: str | None = None, description: str | None = None,
                            instructions: str | None = None, metadata: dict[str, Any] | None = None) -> Folder:
        """Change a folder's name, description, instructions or metadata (None: unchanged)."""
        folder = await self.retrieve_folder(folder_id)
        if name is not None:
            if not name.strip() or "/" in name or len(name) > 200:
                raise InvalidRequestError("a folder name must be 1-200 characters without '/'")
            folder.name = name
        folder.description = folder.description if description is None else description
        folder.instructions = folder.instructions if instructions is None else instructions
        folder.metadata = folder.metadata if metadata is None else metadata
        return await self.folder_store.update_folder(folder)

    async def delete_folder(self, folder_id: str) -> None:
        """Delete a folder, its files and chunks; agents that had it lose them."""
        await self.retrieve_folder(folder_id)
        await self.folder_store.delete_folder(folder_id)

    async def folder_agents(self, folder_id: str) -> list[str]:
        """Ids of the agents the folder is attached to."""
        await self.retrieve_folder(folder_id)
        return await self.folder_store.folder_agents(folder_id)

    # --- files ------------------------------------------------------------------------------
    async def upload_file(self, folder_id: str, source: str | Path | IO[bytes], *, file_name: str | None = None,
                          name: str | None = None, duplicate_handling: Duplicates = "suffix",
                          wait: bool = False) -> FileInfo:
        """Save an upload (a path, or an open binary stream with ``file_name``) and process it
        in the background; the file as stored (status ``pending``), or once processed if
        ``wait``. ``name`` stores it under another name.

        A name already in the folder is handled as ``duplicate_handling`` says: ``suffix``
        stores it as ``name_(1).ext``, ``skip`` returns the existing file, ``error`` refuses
        (409), ``replace`` deletes the old file first.
        """
        if isinstance(source, (str, Path)):
            path = Path(source)
            if not path.is_file():
                raise InvalidRequestError(f"no file at {str(path)!r}")
            stream = await asyncio.to_thread(path.open, "rb")
            try:
                return await self.upload_file(folder_id, stream, file_name=file_name or path.name, name=name,
                                              duplicate_handling=duplicate_handling, wait=wait)
            finally:
                stream.close()
        if not file_name:
            raise InvalidRequestError("file_name is required with a stream")
        info = await self._upload(folder_id, source, file_name, name, duplicate_handling)
        return await self._wait_for_file(folder_id, info.id) if wait else info

    async def _upload(self, folder_id: str, stream: IO[bytes], file_name: str, name: str | None,
                      duplicate_handling: Duplicates) -> FileInfo:
        folder = await self.retrieve_folder(folder_id)
        stored_name = _clean_name(name or file_name)
        kind = file_type(stored_name)
        if kind is None:
            allowed = ", ".join(sorted(UPLOAD_SUFFIXES))
            raise InvalidRequestError(f"unsupported file type {Path(stored_name).suffix or '(none)'!r}; "
                                      f"supported: {allowed}")
        store = self.folder_store
        existing = await store.files_named(folder_id, stored_name)
        if existing and duplicate_handling == "skip":
            return existing[0]
        if existing and duplicate_handling == "error":
            raise AlreadyExistsError(f"file {stored_name!r} already exists in folder {folder.name!r}")
        if existing and duplicate_handling == "replace":
            for old in existing:
                await store.delete_file(old.id)
        elif existing:
            stored_name = _suffixed(stored_name, await store.names_like(folder_id))
        info = FileInfo(folder_id=folder_id, file_name=stored_name, original_file_name=_clean_name(file_name),
                        file_type=kind, file_size=0)
        path = self.settings.home / "uploads" / f"{info.id}{Path(stored_name).suffix.lower()}"
        try:
            info.file_size = await asyncio.to_thread(processing.save_upload, stream, path, MAX_UPLOAD_BYTES)
        except processing.UploadTooLarge as exc:
            raise InvalidRequestError(str(exc)) from exc
        await store.add_file(info, self.kernel.holder)
        processing.start(store, self.stores.agents, self.embedder, folder, info, path, self.kernel.closing)
        return info

    async def list_files(self, folder_id: str, *, include_content: bool = False) -> list[FileInfo]:
        """A folder's files, oldest first."""
        await self.retrieve_folder(folder_id)
        return await self.folder_store.list_files(folder_id, content=include_content)

    async def retrieve_file(self, folder_id: str, file_id: str, *, include_content: bool = False) -> FileInfo:
        """One file of a folder, with its processing status."""
        await self.retrieve_folder(folder_id)
        info = await self.folder_store.get_file(file_id, content=include_content)
        if info.folder_id != folder_id:
            raise NotFoundError(f"no file {file_id!r} in folder {folder_id!r}")
        return info

    async def delete_file(self, folder_id: str, file_id: str) -> None:
        """Delete a file and its chunks; agents that had it lose it."""
        await self.retrieve_file(folder_id, file_id)
        await self.folder_store.delete_file(file_id)

    async def _wait_for_file(self, folder_id: str, file_id: str, timeout: float = 120.0) -> FileInfo:
        """The file once it is ``completed`` or ``error`` (polls; TimeoutError after timeout)."""
        async with asyncio.timeout(timeout):
            while True:
                info = await self.retrieve_file(folder_id, file_id)
                if info.status in ("completed", "error"):
                    return info
                await asyncio.sleep(0.05)

    # --- agents -----------------------------------------------------------------------------
    async def agent_folders(self, agent: str) -> list[Folder]:
        """The folders attached to an agent."""
        state = await self.get_agent(agent)
        return await (await self._store()).agent_folders(state.id)

    async def attach_folder(self, agent: str, folder_id: str) -> AgentState:
        """Give an agent a folder: its processed files (the newest open) and the file tools."""
        state = await self.get_agent(agent)
        await self.retrieve_folder(folder_id)
        limits = file_limits(state.context_window)
        await self.folder_store.attach(state.id, folder_id, limits.max_files_open, limits.chars_per_file)
        return await self.get_agent(state.id)

    async def detach_folder(self, agent: str, folder_id: str) -> AgentState:
        """Take a folder and its files from an agent (the file tools go with the last one)."""
        state = await self.get_agent(agent)
        await self.retrieve_folder(folder_id)
        await self.folder_store.detach(state.id, folder_id)
        return await self.get_agent(state.id)

    async def agent_files(self, agent: str, *, is_open: bool | None = None) -> list[AgentFile]:
        """An agent's files; open ones with the numbered lines they show."""
        state = await self.get_agent(agent)
        port = AgentFiles(self.folder_store, self.embedder, state.id, state.context_window)
        files = [f for f in await self.folder_store.agent_files(state.id) if is_open is None or f.is_open == is_open]
        texts = await self.folder_store.contents([f.file_id for f in files if f.is_open])
        return [f.model_copy(update={"visible_content": port.visible(f, texts[f.file_id]) if f.is_open else None})
                for f in files]

    async def _agent_file(self, agent: str, file_id: str) -> tuple[AgentState, AgentFile]:
        state = await self.get_agent(agent)
        for f in await self.folder_store.agent_files(state.id):
            if f.file_id == file_id:
                return state, f
        raise NotFoundError(f"agent {state.id!r} has no file {file_id!r}")

    async def open_file(self, agent: str, file_id: str) -> list[str]:
        """Open a file for an agent from its start; the names of files closed to make room."""
        state, f = await self._agent_file(agent, file_id)
        port = AgentFiles(self.folder_store, self.embedder, state.id, state.context_window)
        return await port.open_one(f.file_id, 1, None)

    async def close_file(self, agent: str, file_id: str) -> None:
        """Close one of an agent's files."""
        state, f = await self._agent_file(agent, file_id)
        await self.folder_store.set_open(state.id, f.file_id, False)

    async def close_all_files(self, agent: str) -> list[str]:
        """Close every open file of an agent; the names of those closed."""
        state = await self.get_agent(agent)
        closed = []
        for f in await self.folder_store.agent_files(state.id):
            if f.is_open:
                await self.folder_store.set_open(state.id, f.file_id, False)
                closed.append(f.label)
        return closed
