"""Processing an uploaded file in the background: parse (in a thread), chunk, embed in
batches (in a thread, through the kernel's embedder), then give it to every agent that has
its folder. The status moves pending -> parsing -> embedding -> completed; any failure ends
in ``error`` with a message, and the file's chunks are removed with it, so a search never
finds half a file. The upload on disk is deleted once processed.

Closing the service stops its processing (``stop``, run by ``Kernel.close``): each file in
progress is marked ``error`` ("interrupted") before the database closes, as Letta leaves a
failed file for the user to upload again. A process that dies mid-way leaves its files
"parsing" or "embedding" with itself as ``worker``; the first folder call of the next process
marks them ``error`` the same way (``sweep``), asking for the file again, rather than
resuming (the upload may be gone or partial).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO

from memgpt.embeddings import Embedder
from memgpt.memory.files import ChunkIn, FileInfo, Folder, FolderStore, file_limits
from memgpt.memory.stores import AgentStore
from memgpt.services.documents import DEFAULT_OVERLAP, Chunk, Section, chunk_sections
from memgpt.services.file_readers import UnreadableFile, joined, read_upload

log = logging.getLogger("memgpt.folders")

EMBED_BATCH = 64
COPY_BLOCK = 1 << 20
_TASKS: set[asyncio.Task[None]] = set()
_BY_STORE: weakref.WeakKeyDictionary[object, set[asyncio.Task[None]]] = weakref.WeakKeyDictionary()
"""The processing tasks of each folder store (one per kernel), for ``stop``."""
INTERRUPTED = "processing was interrupted (the server stopped); upload the file again"
_SWEPT: weakref.WeakSet[object] = weakref.WeakSet()


class UploadTooLarge(Exception):
    """The upload passed the size cap while it was copied."""


def save_upload(stream: IO[bytes], dest: Path, max_bytes: int) -> int:
    """Copy an upload to disk block by block (never whole in memory); its size."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    size = 0
    try:
        with dest.open("wb") as out:
            while block := stream.read(COPY_BLOCK):
                size += len(block)
                if size > max_bytes:
                    raise UploadTooLarge(f"the file is larger than {max_bytes} bytes")
                out.write(block)
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    return size


def chunk_for_folder(sections: list[Section], chunk_tokens: int) -> list[Chunk]:
    """A file's chunks (a PDF page's never span pages), overlapping a little."""
    return chunk_sections(sections, chunk_tokens=chunk_tokens, overlap=min(DEFAULT_OVERLAP, chunk_tokens // 4))


def start(store: FolderStore, agents: AgentStore, embedder: Embedder, folder: Folder,
          info: FileInfo, path: Path, closing: list[Callable[[], Awaitable[None]]]) -> None:
    """Process a saved upload in the background (a reference is kept until it ends);
    ``closing`` (the kernel's) gets ``stop`` for this store, once."""
    if store not in _BY_STORE:
        closing.append(lambda: stop(store))
    task = asyncio.create_task(process(store, agents, embedder, folder, info, path))
    mine = _BY_STORE.setdefault(store, set())
    for tasks in (_TASKS, mine):
        tasks.add(task)
        task.add_done_callback(tasks.discard)


async def stop(store: FolderStore) -> None:
    """Cancel the store's processing tasks and wait for them: each marks its file ``error``
    (interrupted) while the database is still open. Service close calls it."""
    tasks = [t for t in _BY_STORE.get(store, ()) if t.get_loop() is asyncio.get_running_loop()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def pending() -> None:
    """Wait for every processing task of this process (tests, shutdown)."""
    while _TASKS:
        await asyncio.gather(*list(_TASKS), return_exceptions=True)


async def process(store: FolderStore, agents: AgentStore, embedder: Embedder, folder: Folder,
                  info: FileInfo, path: Path) -> None:
    """Parse, chunk and embed one file; on failure mark it ``error`` and drop its chunks."""
    try:
        await store.set_status(info.id, "parsing")
        sections = await asyncio.to_thread(read_upload, path, info.file_name)
        content = joined(sections)
        chunks = await asyncio.to_thread(chunk_for_folder, sections, folder.chunk_tokens)
        await store.set_status(info.id, "embedding", content=content, total_chunks=len(chunks))
        for at in range(0, len(chunks), EMBED_BATCH):
            batch = chunks[at:at + EMBED_BATCH]
            vectors = await asyncio.to_thread(embedder.embed, [c.text for c in batch])
            await store.add_chunks(info, embedder.name, at, [
                ChunkIn(c.text, c.page, v) for c, v in zip(batch, vectors, strict=True)])
        await store.set_status(info.id, "completed")
    except UnreadableFile as exc:
        await store.fail(info.id, str(exc))
    except asyncio.CancelledError:  # shutting down: mark it if the database is still there
        with contextlib.suppress(Exception):
            await asyncio.shield(store.fail(info.id, INTERRUPTED))
        raise
    except Exception as exc:  # an embedder or database failure: say so, keep nothing
        log.exception("processing %s failed", info.id)
        await store.fail(info.id, f"processing failed: {type(exc).__name__}: {exc}")
    else:
        try:
            await give_to_agents(store, agents, folder.id)
        except Exception:  # the file is fine; its agents get it at their next attach
            log.exception("giving %s to the agents of folder %s failed", info.id, folder.id)
    finally:
        path.unlink(missing_ok=True)


async def give_to_agents(store: FolderStore, agents: AgentStore, folder_id: str) -> None:
    """Attach a folder's newly processed files to every agent that has the folder."""
    for agent_id in await store.folder_agents(folder_id):
        state = await agents.get(agent_id)
        limits = file_limits(state.context_window)
        await store.attach(agent_id, folder_id, limits.max_files_open, limits.chars_per_file)


async def sweep(kernel: object, store: FolderStore, is_dead: Callable[[str], bool]) -> None:
    """Once per kernel: files whose processing process died are marked ``error``."""
    if kernel in _SWEPT:
        return
    _SWEPT.add(kernel)
    for file_id in await store.abandoned(is_dead):
        await store.fail(file_id, INTERRUPTED)
