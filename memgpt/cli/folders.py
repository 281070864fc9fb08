"""``memgpt folders``: folders of documents that agents open, grep and search with their file
tools. A folder is named by its id or its name. Like the rest of the CLI, only typer, rich
and memgpt.core.errors load at start-up; each command imports the service itself."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, TypeVar

import typer
from rich.console import Console

from memgpt.cli.common import Home, _run
from memgpt.core.errors import NotFoundError

if TYPE_CHECKING:
    from memgpt.memory.files import FileInfo
    from memgpt.services.service import AgentService

T = TypeVar("T")
console = Console(soft_wrap=True)
folders_app = typer.Typer(help="Folders of documents agents open, grep and search.", no_args_is_help=True)


async def _folder_id(svc: AgentService, folder: str) -> str:
    """A folder's id, from its id or its name."""
    if folder.startswith("source-"):
        return (await svc.retrieve_folder(folder)).id
    found = await svc.list_folders(folder)
    if not found:
        raise NotFoundError(f"no folder {folder!r}")
    return found[0].id


def _line(f: FileInfo) -> str:
    status = f.status if f.status != "error" else f"[red]error[/]: {f.error_message}"
    return f"{f.id}  {f.file_name}  {f.file_size} bytes  {f.chunks_embedded}/{f.total_chunks} chunks  {status}"


@folders_app.command("create")
def folders_create(name: str, home: Home = None, description: str = "", instructions: str = "") -> None:
    """Create an empty folder NAME; prints its id."""
    folder = _run(home, lambda svc: svc.create_folder(name, description=description, instructions=instructions))
    print(folder.id)


@folders_app.command("list")
def folders_list(home: Home = None) -> None:
    """List folders with their file counts."""
    async def job(svc: AgentService) -> list[tuple[str, str, int]]:
        return [(f.id, f.name, len(await svc.list_files(f.id))) for f in await svc.list_folders()]

    for folder_id, name, count in _run(home, job):
        console.print(f"{folder_id}  {name}  {count} files", highlight=False)


@folders_app.command("upload")
def folders_upload(
    folder: str, paths: list[Path], home: Home = None,
    duplicates: Annotated[str, typer.Option(help="skip, error, suffix or replace a name already there.")] = "suffix",
) -> None:
    """Upload files to FOLDER and wait until each is parsed and embedded."""
    if duplicates not in ("skip", "error", "suffix", "replace"):
        raise typer.BadParameter("--duplicates must be skip, error, suffix or replace")
    policy: Literal["skip", "error", "suffix", "replace"] = duplicates  # type: ignore[assignment]

    async def job(svc: AgentService) -> list[FileInfo]:
        folder_id = await _folder_id(svc, folder)
        return [await svc.upload_file(folder_id, p, duplicate_handling=policy, wait=True) for p in paths]

    done = _run(home, job)
    for f in done:
        console.print(_line(f), highlight=False)
    if any(f.status == "error" for f in done):
        raise typer.Exit(1)


@folders_app.command("files")
def folders_files(folder: str, home: Home = None) -> None:
    """List a folder's files with their processing status."""
    async def job(svc: AgentService) -> list[FileInfo]:
        return await svc.list_files(await _folder_id(svc, folder))

    for f in _run(home, job):
        console.print(_line(f), highlight=False)


@folders_app.command("attach")
def folders_attach(agent: str, folder: str, home: Home = None) -> None:
    """Give AGENT the files of FOLDER (and the file tools)."""
    async def job(svc: AgentService) -> int:
        await svc.attach_folder(agent, await _folder_id(svc, folder))
        return len(await svc.agent_files(agent))

    console.print(f"attached: {agent} now has {_run(home, job)} files", highlight=False)


@folders_app.command("detach")
def folders_detach(agent: str, folder: str, home: Home = None) -> None:
    """Take FOLDER's files from AGENT."""
    async def job(svc: AgentService) -> None:
        await svc.detach_folder(agent, await _folder_id(svc, folder))

    _run(home, job)
    console.print(f"detached {folder} from {agent}", highlight=False)


@folders_app.command("delete")
def folders_delete(folder: str, home: Home = None) -> None:
    """Delete FOLDER with its files; agents that had it lose them."""
    async def job(svc: AgentService) -> str:
        folder_id = await _folder_id(svc, folder)
        await svc.delete_folder(folder_id)
        return folder_id

    console.print(f"deleted {_run(home, job)}", highlight=False)
