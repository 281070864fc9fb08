"""Folders and files on the native API (``/memgpt/v1/folders``, ``/memgpt/v1/agents/{agent}/
folders`` and ``.../files``): each route calls the AgentService method of the same name with
every one of its parameters. An upload is multipart (the file in the part ``file``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Response, UploadFile
from pydantic import BaseModel, ConfigDict

from memgpt.core.schemas import AgentState
from memgpt.memory.files import AgentFile, Duplicates, FileInfo, Folder
from memgpt.server.deps import Service

router = APIRouter(prefix="/memgpt/v1", tags=["memgpt"])


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateFolder(_Body):
    """Arguments of AgentService.create_folder."""

    name: str
    description: str = ""
    instructions: str = ""
    metadata: dict[str, Any] | None = None
    chunk_tokens: int | None = None


class ModifyFolder(_Body):
    """Arguments of AgentService.modify_folder (None: unchanged)."""

    name: str | None = None
    description: str | None = None
    instructions: str | None = None
    metadata: dict[str, Any] | None = None


@router.post("/folders", response_model=Folder, status_code=201)
async def create_folder(body: CreateFolder, service: Service) -> Folder:
    """A new, empty folder."""
    return await service.create_folder(body.name, description=body.description, instructions=body.instructions,
                                       metadata=body.metadata, chunk_tokens=body.chunk_tokens)


@router.get("/folders", response_model=list[Folder])
async def list_folders(service: Service, name: str | None = None) -> list[Folder]:
    """The user's folders, oldest first."""
    return await service.list_folders(name)


@router.get("/folders/{folder_id}", response_model=Folder)
async def retrieve_folder(folder_id: str, service: Service) -> Folder:
    """One folder."""
    return await service.retrieve_folder(folder_id)


@router.patch("/folders/{folder_id}", response_model=Folder)
async def modify_folder(folder_id: str, body: ModifyFolder, service: Service) -> Folder:
    """Change a folder."""
    return await service.modify_folder(folder_id, **body.model_dump())


@router.delete("/folders/{folder_id}", status_code=204)
async def delete_folder(folder_id: str, service: Service) -> Response:
    """Delete a folder with its files."""
    await service.delete_folder(folder_id)
    return Response(status_code=204)


@router.get("/folders/{folder_id}/agents", response_model=list[str])
async def folder_agents(folder_id: str, service: Service) -> list[str]:
    """Ids of the agents the folder is attached to."""
    return await service.folder_agents(folder_id)


@router.post("/folders/{folder_id}/files", response_model=FileInfo, status_code=201)
async def upload_file(folder_id: str, service: Service, file: Annotated[UploadFile, File()],
                      file_name: str | None = None, name: str | None = None,
                      duplicate_handling: Duplicates = "suffix", wait: bool = False) -> FileInfo:
    """Upload a file; processed in the background (or before answering, with ``wait``)."""
    return await service.upload_file(folder_id, file.file, file_name=file_name or file.filename, name=name,
                                     duplicate_handling=duplicate_handling, wait=wait)


@router.get("/folders/{folder_id}/files", response_model=list[FileInfo])
async def list_files(folder_id: str, service: Service, include_content: bool = False) -> list[FileInfo]:
    """A folder's files with their processing status."""
    return await service.list_files(folder_id, include_content=include_content)


@router.get("/folders/{folder_id}/files/{file_id}", response_model=FileInfo)
async def retrieve_file(folder_id: str, file_id: str, service: Service, include_content: bool = False) -> FileInfo:
    """One file with its processing status."""
    return await service.retrieve_file(folder_id, file_id, include_content=include_content)


@router.delete("/folders/{folder_id}/files/{file_id}", status_code=204)
async def delete_file(folder_id: str, file_id: str, service: Service) -> Response:
    """Delete a file and its chunks."""
    await service.delete_file(folder_id, file_id)
    return Response(status_code=204)


@router.get("/agents/{agent}/folders", response_model=list[Folder])
async def agent_folders(agent: str, service: Service) -> list[Folder]:
    """The folders attached to an agent."""
    return await service.agent_folders(agent)


@router.put("/agents/{agent}/folders/{folder_id}", response_model=AgentState)
async def attach_folder(agent: str, folder_id: str, service: Service) -> AgentState:
    """Give an agent a folder's files and the file tools."""
    return await service.attach_folder(agent, folder_id)


@router.delete("/agents/{agent}/folders/{folder_id}", response_model=AgentState)
async def detach_folder(agent: str, folder_id: str, service: Service) -> AgentState:
    """Take a folder's files from an agent."""
    return await service.detach_folder(agent, folder_id)


@router.get("/agents/{agent}/files", response_model=list[AgentFile])
async def agent_files(agent: str, service: Service, is_open: bool | None = None) -> list[AgentFile]:
    """An agent's files; open ones with the lines they show."""
    return await service.agent_files(agent, is_open=is_open)


@router.post("/agents/{agent}/files/close-all", response_model=list[str])
async def close_all_files(agent: str, service: Service) -> list[str]:
    """Close every open file of an agent."""
    return await service.close_all_files(agent)


@router.post("/agents/{agent}/files/{file_id}/open", response_model=list[str])
async def open_file(agent: str, file_id: str, service: Service) -> list[str]:
    """Open a file; the names of files closed to make room."""
    return await service.open_file(agent, file_id)


@router.post("/agents/{agent}/files/{file_id}/close", status_code=204)
async def close_file(agent: str, file_id: str, service: Service) -> Response:
    """Close a file."""
    await service.close_file(agent, file_id)
    return Response(status_code=204)
