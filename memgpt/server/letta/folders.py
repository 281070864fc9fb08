"""Letta's folders and files: ``/v1/folders`` (CRUD, upload, files, agents) and an agent's
folders and files (``/v1/agents/{id}/folders``, ``/v1/agents/{id}/files``).

An upload is read by Starlette's multipart parser into a temporary file that spills to disk
past 1 MiB, then copied to memgpt's home block by block and processed in the background:
the answer comes at once with ``processing_status`` "pending"; poll the file for the rest.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Query, UploadFile
from pydantic import BaseModel, ConfigDict

from memgpt.formats import letta as ls
from memgpt.memory.files import AgentFile, Duplicates, FileInfo, Folder, Status
from memgpt.server.deps import Service
from memgpt.server.letta.agents import agent_out
from memgpt.server.paging import page
from memgpt.services.service import AgentService

router = APIRouter(tags=["folders"])
Limit = Annotated[int | None, Query(ge=1, le=1000)]
Order = Literal["asc", "desc"]


class LettaFolder(BaseModel):
    """Letta's Folder."""

    id: str
    name: str
    description: str | None = None
    instructions: str | None = None
    metadata: dict[str, Any] | None = None
    embedding_config: ls.EmbeddingConfig
    created_at: datetime
    updated_at: datetime
    created_by_id: str | None = None
    last_updated_by_id: str | None = None
    vector_db_provider: str = "native"


class LettaFile(BaseModel):
    """Letta's FileMetadata (``source_id`` is the folder's id)."""

    id: str
    source_id: str
    file_name: str
    original_file_name: str
    file_path: str | None = None
    file_type: str
    file_size: int
    file_creation_date: str | None = None
    file_last_modified_date: str | None = None
    processing_status: Status
    error_message: str | None = None
    total_chunks: int
    chunks_embedded: int
    content: str | None = None
    created_at: datetime
    updated_at: datetime


class LettaAgentFile(BaseModel):
    """Letta's agent file attachment (its id is the file's id, the page cursor)."""

    id: str
    file_id: str
    file_name: str
    folder_id: str
    folder_name: str
    is_open: bool
    start_line: int | None = None
    end_line: int | None = None
    last_accessed_at: datetime
    visible_content: str | None = None


class AgentFilesPage(BaseModel):
    """A page of an agent's files."""

    files: list[LettaAgentFile]
    next_cursor: str | None = None
    has_more: bool = False


class CreateFolder(BaseModel):
    """Letta's folder create body (``embedding``/``embedding_config`` are the server's)."""

    model_config = ConfigDict(extra="ignore")
    name: str
    description: str | None = None
    instructions: str | None = None
    metadata: dict[str, Any] | None = None
    embedding: str | None = None
    embedding_chunk_size: int | None = None
    embedding_config: dict[str, Any] | None = None


class ModifyFolder(BaseModel):
    """Letta's folder update body."""

    model_config = ConfigDict(extra="ignore")
    name: str | None = None
    description: str | None = None
    instructions: str | None = None
    metadata: dict[str, Any] | None = None
    embedding_config: dict[str, Any] | None = None


def folder_out(service: AgentService, f: Folder) -> LettaFolder:
    """A folder in Letta's shape."""
    return LettaFolder(id=f.id, name=f.name, description=f.description or None, instructions=f.instructions or None,
                       metadata=f.metadata, embedding_config=ls.embedding_config(service.embedder),
                       created_at=f.created_at, updated_at=f.updated_at)


def file_out(f: FileInfo) -> LettaFile:
    """A file in Letta's shape."""
    return LettaFile(id=f.id, source_id=f.folder_id, file_name=f.file_name, original_file_name=f.original_file_name,
                     file_type=f.file_type, file_size=f.file_size, processing_status=f.status,
                     error_message=f.error_message, total_chunks=f.total_chunks, chunks_embedded=f.chunks_embedded,
                     content=f.content, created_at=f.created_at, updated_at=f.updated_at)


def agent_file_out(f: AgentFile) -> LettaAgentFile:
    """An agent's file in Letta's shape."""
    return LettaAgentFile(id=f.file_id, file_id=f.file_id, file_name=f.label, folder_id=f.folder_id,
                          folder_name=f.folder_name, is_open=f.is_open, start_line=f.start_line,
                          end_line=f.end_line, last_accessed_at=f.last_accessed_at,
                          visible_content=f.visible_content)


@router.post("/v1/folders/", response_model=LettaFolder)
@router.post("/v1/folders", response_model=LettaFolder, include_in_schema=False)
async def create_folder(body: CreateFolder, service: Service) -> LettaFolder:
    """A new folder; names are unique per user."""
    folder = await service.create_folder(body.name, description=body.description or "",
                                         instructions=body.instructions or "", metadata=body.metadata,
                                         chunk_tokens=body.embedding_chunk_size)
    return folder_out(service, folder)


@router.get("/v1/folders/", response_model=list[LettaFolder])
@router.get("/v1/folders", response_model=list[LettaFolder], include_in_schema=False)
async def list_folders(service: Service, name: str | None = None, after: str | None = None,
                       before: str | None = None, limit: Limit = 50, order: Order = "asc") -> list[LettaFolder]:
    """The user's folders, oldest first by default."""
    folders = await service.list_folders(name)
    chosen = page(folders, lambda f: f.id, after=after, before=before, limit=limit, order=order, what="folder")
    return [folder_out(service, f) for f in chosen]


@router.get("/v1/folders/{folder_id}", response_model=LettaFolder)
async def retrieve_folder(folder_id: str, service: Service) -> LettaFolder:
    """One folder."""
    return folder_out(service, await service.retrieve_folder(folder_id))


@router.patch("/v1/folders/{folder_id}", response_model=LettaFolder)
async def modify_folder(folder_id: str, body: ModifyFolder, service: Service) -> LettaFolder:
    """Rename a folder or change its description, instructions or metadata."""
    folder = await service.modify_folder(folder_id, name=body.name, description=body.description,
                                         instructions=body.instructions, metadata=body.metadata)
    return folder_out(service, folder)


@router.delete("/v1/folders/{folder_id}")
async def delete_folder(folder_id: str, service: Service) -> dict[str, str]:
    """Delete a folder with its files; agents that had it lose them."""
    await service.delete_folder(folder_id)
    return {"deleted": folder_id}


@router.get("/v1/folders/{folder_id}/agents", response_model=list[str])
async def list_folder_agents(folder_id: str, service: Service, after: str | None = None, before: str | None = None,
                             limit: Limit = 50, order: Order = "asc") -> list[str]:
    """Ids of the agents the folder is attached to."""
    ids = await service.folder_agents(folder_id)
    return page(ids, lambda a: a, after=after, before=before, limit=limit, order=order, what="agent")


@router.post("/v1/folders/{folder_id}/upload", response_model=LettaFile)
async def upload_file(folder_id: str, service: Service, file: Annotated[UploadFile, File()],
                      duplicate_handling: Duplicates = "suffix", name: str | None = None) -> LettaFile:
    """Upload a file; it is processed in the background (poll its ``processing_status``)."""
    info = await service.upload_file(folder_id, file.file, file_name=file.filename or name or "upload.txt",
                                     name=name, duplicate_handling=duplicate_handling)
    return file_out(info)


@router.get("/v1/folders/{folder_id}/files", response_model=list[LettaFile])
async def list_files(folder_id: str, service: Service, after: str | None = None, before: str | None = None,
                     limit: Limit = 1000, order: Order = "asc", include_content: bool = False) -> list[LettaFile]:
    """A folder's files with their processing status."""
    files = await service.list_files(folder_id, include_content=include_content)
    chosen = page(files, lambda f: f.id, after=after, before=before, limit=limit, order=order, what="file")
    return [file_out(f) for f in chosen]


@router.get("/v1/folders/{folder_id}/files/{file_id}", response_model=LettaFile)
async def retrieve_file(folder_id: str, file_id: str, service: Service, include_content: bool = False) -> LettaFile:
    """One file with its processing status (and text, if asked)."""
    return file_out(await service.retrieve_file(folder_id, file_id, include_content=include_content))


@router.delete("/v1/folders/{folder_id}/{file_id}", status_code=204)
async def delete_file(folder_id: str, file_id: str, service: Service) -> None:
    """Delete a file and its chunks."""
    await service.delete_file(folder_id, file_id)


@router.get("/v1/agents/{agent_id}/folders", response_model=list[LettaFolder])
async def list_agent_folders(agent_id: str, service: Service, after: str | None = None, before: str | None = None,
                             limit: Limit = 50, order: Order = "asc") -> list[LettaFolder]:
    """The folders attached to an agent."""
    folders = await service.agent_folders(agent_id)
    chosen = page(folders, lambda f: f.id, after=after, before=before, limit=limit, order=order, what="folder")
    return [folder_out(service, f) for f in chosen]


@router.patch("/v1/agents/{agent_id}/folders/attach/{folder_id}", response_model=ls.AgentState)
async def attach_folder(agent_id: str, folder_id: str, service: Service) -> ls.AgentState:
    """Give an agent a folder's files and the file tools."""
    return await agent_out(service, await service.attach_folder(agent_id, folder_id))


@router.patch("/v1/agents/{agent_id}/folders/detach/{folder_id}", response_model=ls.AgentState)
async def detach_folder(agent_id: str, folder_id: str, service: Service) -> ls.AgentState:
    """Take a folder's files from an agent."""
    return await agent_out(service, await service.detach_folder(agent_id, folder_id))


@router.get("/v1/agents/{agent_id}/files", response_model=AgentFilesPage)
async def list_agent_files(agent_id: str, service: Service, after: str | None = None, before: str | None = None,
                           cursor: str | None = None, is_open: bool | None = None, limit: Limit = 20,
                           order: Order = "asc") -> AgentFilesPage:
    """An agent's files (open ones with the text they show), a page at a time."""
    files = await service.agent_files(agent_id, is_open=is_open)
    after = after or cursor
    size = limit or 20
    chosen = page(files, lambda f: f.file_id, after=after, before=before, limit=size + 1, order=order,
                  what="file")
    more = len(chosen) > size
    chosen = chosen[:size]
    return AgentFilesPage(files=[agent_file_out(f) for f in chosen],
                          next_cursor=chosen[-1].file_id if more and chosen else None, has_more=more)


@router.patch("/v1/agents/{agent_id}/files/close-all", response_model=list[str])
async def close_all_files(agent_id: str, service: Service) -> list[str]:
    """Close every open file; the names of those closed."""
    return await service.close_all_files(agent_id)


@router.patch("/v1/agents/{agent_id}/files/{file_id}/open", response_model=list[str])
async def open_file(agent_id: str, file_id: str, service: Service) -> list[str]:
    """Open a file; the names of files closed to make room."""
    return await service.open_file(agent_id, file_id)


@router.patch("/v1/agents/{agent_id}/files/{file_id}/close")
async def close_file(agent_id: str, file_id: str, service: Service) -> dict[str, str]:
    """Close a file."""
    await service.close_file(agent_id, file_id)
    return {"message": f"file {file_id} closed"}
