"""Folders and files for ``memgpt.MemGPT`` (``LocalFolders``) and ``memgpt.Client``
(``ClientFolders``): the AgentService methods of ``memgpt.services.folders``, blocking.
Kept apart so the two front ends' modules stay readable; each class mixes one in.
"""

from __future__ import annotations

from collections.abc import Coroutine
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from memgpt.core.schemas import AgentState
from memgpt.memory.files import AgentFile, Duplicates, FileInfo, Folder

if TYPE_CHECKING:
    from memgpt.services.service import AgentService

T = TypeVar("T")


def _q(part: str) -> str:
    return quote(part, safe="")


class LocalFolders:
    """Folders and files on the local service (MemGPT mixes this in)."""

    service: AgentService

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        raise NotImplementedError

    def create_folder(self, name: str, *, description: str = "", instructions: str = "",
                      metadata: dict[str, Any] | None = None, chunk_tokens: int | None = None) -> Folder:
        """A new, empty folder (names are unique per user)."""
        return self._run(self.service.create_folder(name, description=description, instructions=instructions,
                                                    metadata=metadata, chunk_tokens=chunk_tokens))

    def list_folders(self, name: str | None = None) -> list[Folder]:
        """The user's folders, oldest first."""
        return self._run(self.service.list_folders(name))

    def retrieve_folder(self, folder_id: str) -> Folder:
        """One folder."""
        return self._run(self.service.retrieve_folder(folder_id))

    def modify_folder(self, folder_id: str, *, name: str | None = None, description: str | None = None,
                      instructions: str | None = None, metadata: dict[str, Any] | None = None) -> Folder:
        """Change a folder (None: unchanged)."""
        return self._run(self.service.modify_folder(folder_id, name=name, description=description,
                                                    instructions=instructions, metadata=metadata))

    def delete_folder(self, folder_id: str) -> None:
        """Delete a folder with its files."""
        self._run(self.service.delete_folder(folder_id))

    def folder_agents(self, folder_id: str) -> list[str]:
        """Ids of the agents the folder is attached to."""
        return self._run(self.service.folder_agents(folder_id))

    def upload_file(self, folder_id: str, source: str | Path | IO[bytes], *, file_name: str | None = None,
                    name: str | None = None, duplicate_handling: Duplicates = "suffix",
                    wait: bool = False) -> FileInfo:
        """Upload a file (a path, or a binary stream with ``file_name``); processed in the
        background, or before returning with ``wait``."""
        return self._run(self.service.upload_file(folder_id, source, file_name=file_name, name=name,
                                                  duplicate_handling=duplicate_handling, wait=wait))

    def list_files(self, folder_id: str, *, include_content: bool = False) -> list[FileInfo]:
        """A folder's files with their processing status."""
        return self._run(self.service.list_files(folder_id, include_content=include_content))

    def retrieve_file(self, folder_id: str, file_id: str, *, include_content: bool = False) -> FileInfo:
        """One file with its processing status."""
        return self._run(self.service.retrieve_file(folder_id, file_id, include_content=include_content))

    def delete_file(self, folder_id: str, file_id: str) -> None:
        """Delete a file and its chunks."""
        self._run(self.service.delete_file(folder_id, file_id))

    def agent_folders(self, agent: str) -> list[Folder]:
        """The folders attached to an agent."""
        return self._run(self.service.agent_folders(agent))

    def attach_folder(self, agent: str, folder_id: str) -> AgentState:
        """Give an agent a folder's files and the file tools."""
        return self._run(self.service.attach_folder(agent, folder_id))

    def detach_folder(self, agent: str, folder_id: str) -> AgentState:
        """Take a folder's files from an agent."""
        return self._run(self.service.detach_folder(agent, folder_id))

    def agent_files(self, agent: str, *, is_open: bool | None = None) -> list[AgentFile]:
        """An agent's files; open ones with the lines they show."""
        return self._run(self.service.agent_files(agent, is_open=is_open))

    def open_file(self, agent: str, file_id: str) -> list[str]:
        """Open a file for an agent; the names of files closed to make room."""
        return self._run(self.service.open_file(agent, file_id))

    def close_file(self, agent: str, file_id: str) -> None:
        """Close one of an agent's files."""
        self._run(self.service.close_file(agent, file_id))

    def close_all_files(self, agent: str) -> list[str]:
        """Close every open file of an agent; the names of those closed."""
        return self._run(self.service.close_all_files(agent))


class ClientFolders:
    """Folders and files over HTTP (Client mixes this in)."""

    def _get(self, kind: type[T] | Any, method: str, path: str, **kwargs: Any) -> T:
        raise NotImplementedError

    def _call(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None) -> Any:
        raise NotImplementedError

    def _send_file(self, path: str, stream: IO[bytes], file_name: str, params: dict[str, Any]) -> Any:
        raise NotImplementedError

    def create_folder(self, name: str, *, description: str = "", instructions: str = "",
                      metadata: dict[str, Any] | None = None, chunk_tokens: int | None = None) -> Folder:
        """A new, empty folder (names are unique per user)."""
        body = {"name": name, "description": description, "instructions": instructions, "metadata": metadata,
                "chunk_tokens": chunk_tokens}
        return self._get(Folder, "POST", "/folders", json=body)

    def list_folders(self, name: str | None = None) -> list[Folder]:
        """The user's folders, oldest first."""
        return self._get(list[Folder], "GET", "/folders", params={"name": name})

    def retrieve_folder(self, folder_id: str) -> Folder:
        """One folder."""
        return self._get(Folder, "GET", f"/folders/{_q(folder_id)}")

    def modify_folder(self, folder_id: str, *, name: str | None = None, description: str | None = None,
                      instructions: str | None = None, metadata: dict[str, Any] | None = None) -> Folder:
        """Change a folder (None: unchanged)."""
        body = {"name": name, "description": description, "instructions": instructions, "metadata": metadata}
        return self._get(Folder, "PATCH", f"/folders/{_q(folder_id)}", json=body)

    def delete_folder(self, folder_id: str) -> None:
        """Delete a folder with its files."""
        self._call("DELETE", f"/folders/{_q(folder_id)}")

    def folder_agents(self, folder_id: str) -> list[str]:
        """Ids of the agents the folder is attached to."""
        return self._get(list[str], "GET", f"/folders/{_q(folder_id)}/agents")

    def upload_file(self, folder_id: str, source: str | Path | IO[bytes], *, file_name: str | None = None,
                    name: str | None = None, duplicate_handling: Duplicates = "suffix",
                    wait: bool = False) -> FileInfo:
        """Upload a file (a path, or a binary stream with ``file_name``); processed in the
        background, or before returning with ``wait``."""
        params = {"name": name, "duplicate_handling": duplicate_handling, "wait": wait}
        target = f"/folders/{_q(folder_id)}/files"
        if isinstance(source, (str, Path)):
            with Path(source).open("rb") as stream:
                data = self._send_file(target, stream, file_name or Path(source).name, params)
        else:
            data = self._send_file(target, source, file_name or "upload", {**params, "file_name": file_name})
        return FileInfo.model_validate(data)

    def list_files(self, folder_id: str, *, include_content: bool = False) -> list[FileInfo]:
        """A folder's files with their processing status."""
        return self._get(list[FileInfo], "GET", f"/folders/{_q(folder_id)}/files",
                         params={"include_content": include_content})

    def retrieve_file(self, folder_id: str, file_id: str, *, include_content: bool = False) -> FileInfo:
        """One file with its processing status."""
        return self._get(FileInfo, "GET", f"/folders/{_q(folder_id)}/files/{_q(file_id)}",
                         params={"include_content": include_content})

    def delete_file(self, folder_id: str, file_id: str) -> None:
        """Delete a file and its chunks."""
        self._call("DELETE", f"/folders/{_q(folder_id)}/files/{_q(file_id)}")

    def agent_folders(self, agent: str) -> list[Folder]:
        """The folders attached to an agent."""
        return self._get(list[Folder], "GET", f"/agents/{_q(agent)}/folders")

    def attach_folder(self, agent: str, folder_id: str) -> AgentState:
        """Give an agent a folder's files and the file tools."""
        return self._get(AgentState, "PUT", f"/agents/{_q(agent)}/folders/{_q(folder_id)}")

    def detach_folder(self, agent: str, folder_id: str) -> AgentState:
        """Take a folder's files from an agent."""
        return self._get(AgentState, "DELETE", f"/agents/{_q(agent)}/folders/{_q(folder_id)}")

    def agent_files(self, agent: str, *, is_open: bool | None = None) -> list[AgentFile]:
        """An agent's files; open ones with the lines they show."""
        return self._get(list[AgentFile], "GET", f"/agents/{_q(agent)}/files",
                         params={"is_open": is_open})

    def open_file(self, agent: str, file_id: str) -> list[str]:
        """Open a file for an agent; the names of files closed to make room."""
        return self._get(list[str], "POST", f"/agents/{_q(agent)}/files/{_q(file_id)}/open")

    def close_file(self, agent: str, file_id: str) -> None:
        """Close one of an agent's files."""
        self._call("POST", f"/agents/{_q(agent)}/files/{_q(file_id)}/close")

    def close_all_files(self, agent: str) -> list[str]:
        """Close every open file of an agent; the names of those closed."""
        return self._get(list[str], "POST", f"/agents/{_q(agent)}/files/close-all")
