"""Folders and files: uploads processed in the background, attached to agents, used through
the file tools, over the real letta-client against memgpt's server with the scripted model,
and over the service on SQLite and PostgreSQL.

What must hold: a ~300-paragraph text file and a 200-page PDF become searchable and a
sentence deep inside each is found by the agent's grep/search/open tools (their results are
in the next model request); opening and closing (by API or tool) changes the next request's
system message; duplicates follow ``duplicate_handling``; a bad file ends in ``error`` with a
message and no chunks; another user gets 404; a crash mid-processing does not leave a file
"parsing" forever.
"""

from __future__ import annotations

import io
import random
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from letta_client import BadRequestError, ConflictError, Letta
from letta_client import NotFoundError as LettaNotFound
from test_loaders import NEEDLE, sentence, write_book

from memgpt import AgentService, ScriptedModel, Settings
from memgpt.core.errors import AlreadyExistsError, InvalidRequestError, NotFoundError
from memgpt.core.schemas import Role
from memgpt.llm.scripted import reply, tool_call
from memgpt.memory.file_view import AgentFiles
from memgpt.memory.files import ChunkIn, FileInfo, file_limits
from memgpt.server import BackgroundServer
from memgpt.services import file_processing

TEXT_NEEDLE = "The brass telescope was lent to Ondine Varga on the ninth of March."


def long_text(paragraphs: int = 300, needle_at: int = 241) -> str:
    """Paragraphs of filler (each unique), with TEXT_NEEDLE inside paragraph ``needle_at``."""
    rng = random.Random(5)
    out = []
    for n in range(1, paragraphs + 1):
        body = [f"Paragraph {n}."] + [sentence(rng, 8, 14) for _ in range(4)]
        if n == needle_at:
            body.insert(3, TEXT_NEEDLE)
        out.append(" ".join(body))
    return "\n\n".join(out)


def tool_results(model: ScriptedModel, call: int) -> dict[str, str]:
    """The tool results (by tool name) the model was sent in request number ``call``."""
    return {p.name: p.content for m in model.calls[call].messages if m.role is Role.TOOL
            for p in m.tool_results}


def system_of(model: ScriptedModel, call: int = -1) -> str:
    """The system message of one of the model's requests."""
    return model.calls[call].messages[0].text


# --- the real letta-client against memgpt server -----------------------------------------------
@pytest.fixture
def served(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Letta, ScriptedModel]]:
    """A Letta client on a keyless memgpt server whose only model is a scripted one."""
    for var in ("LETTA_BASE_URL", "LETTA_API_KEY", "LETTA_CUSTOM_HEADERS"):
        monkeypatch.delenv(var, raising=False)
    model = ScriptedModel()
    service = AgentService(settings, models={"scripted": model})
    with BackgroundServer(service) as server:
        with Letta(base_url=server.url, max_retries=0, timeout=60, _strict_response_validation=True) as client:
            yield client, model


def wait_processed(letta: Letta, folder_id: str, file_id: str, deadline: float = 60.0) -> Any:
    """Poll a file until processing ends (completed or error)."""
    end = time.monotonic() + deadline
    while True:
        f = letta.folders.files.retrieve(file_id, folder_id=folder_id)
        if f.processing_status in ("completed", "error") or time.monotonic() > end:
            return f
        time.sleep(0.05)


def test_letta_client_finds_needles_in_text_and_pdf(served: tuple[Letta, ScriptedModel], tmp_path: Path) -> None:
    """Upload a 300-paragraph text and a 200-page PDF, attach, and let the agent grep, search
    and open them: each tool's result (with the sentence) is in the next model request."""
    letta, model = served
    book = tmp_path / "lighthouse.pdf"
    write_book(book)
    folder = letta.folders.create(name="library", description="Reference books.")
    assert folder.id.startswith("source-") and folder.embedding_config.embedding_model
    notes = letta.folders.files.upload(folder.id, file=("notes.txt", long_text().encode(), "text/plain"))
    assert notes.processing_status in ("pending", "parsing", "embedding", "completed")
    with book.open("rb") as fh:
        pdf = letta.folders.files.upload(folder.id, file=("lighthouse.pdf", fh, "application/pdf"))
    for f in (notes, pdf):
        done = wait_processed(letta, folder.id, f.id)
        assert done.processing_status == "completed", done.error_message
        assert done.total_chunks == done.chunks_embedded > 0
    assert wait_processed(letta, folder.id, pdf.id).total_chunks >= 200
    assert [f.file_name for f in letta.folders.files.list(folder.id)] == ["notes.txt", "lighthouse.pdf"]

    agent = letta.agents.create(name="reader", model="scripted", context_window_limit=32000)
    attached = letta.agents.folders.attach(folder.id, agent_id=agent.id)
    assert attached.id == agent.id
    assert [f.id for f in letta.agents.folders.list(agent.id)] == [folder.id]
    assert letta.folders.agents.list(folder.id) == [agent.id]

    model.push(
        tool_call("grep_files", pattern=r"crate \d+", request_heartbeat=True),
        tool_call("semantic_search_files", query="telescope lent to Ondine Varga", limit=3, request_heartbeat=True),
        tool_call("open_files", file_requests=[{"file_name": "library/notes.txt", "offset": 0, "length": 2}],
                  close_all_others=True, request_heartbeat=True),
        reply("Found both."),
    )
    letta.agents.messages.create(agent_id=agent.id, messages=[{"role": "user", "content": "Find them."}])
    first = system_of(model, 0)
    assert '<directory name="library">' in first and '<file status="open" name="library/notes.txt">' in first
    assert "open_files" in [t.name for t in model.calls[0].tools]
    grep = tool_results(model, 1)["grep_files"]
    assert "library/lighthouse.pdf" in grep and NEEDLE in grep, grep
    found = tool_results(model, 2)["semantic_search_files"]
    assert TEXT_NEEDLE in found.split("\n2. ")[0], found
    opened = tool_results(model, 3)["open_files"]
    assert "Opened library/notes.txt (lines 1-2)" in opened and "Closed library/lighthouse.pdf" in opened
    now = system_of(model, 3)
    assert "1: Paragraph 1." in now and '<file status="closed" name="library/lighthouse.pdf">' in now
    assert "3: " not in now.split('name="library/notes.txt">')[1].split("</file>")[0]

    page = letta.agents.files.list(agent.id)
    by_name = {f.file_name: f for f in page.files}
    assert by_name["library/notes.txt"].is_open and not by_name["library/lighthouse.pdf"].is_open
    assert letta.agents.files.open(pdf.id, agent_id=agent.id) == []
    model.push(reply("ok"))
    letta.agents.messages.create(agent_id=agent.id, messages=[{"role": "user", "content": "again"}])
    assert '<file status="open" name="library/lighthouse.pdf">' in system_of(model)
    assert sorted(letta.agents.files.close_all(agent.id)) == ["library/lighthouse.pdf", "library/notes.txt"]
    model.push(reply("ok"))
    letta.agents.messages.create(agent_id=agent.id, messages=[{"role": "user", "content": "and now?"}])
    assert '<file status="open"' not in system_of(model)

    letta.agents.folders.detach(folder.id, agent_id=agent.id)
    model.push(reply("ok"))
    letta.agents.messages.create(agent_id=agent.id, messages=[{"role": "user", "content": "gone?"}])
    assert "<directories>" not in system_of(model) and "grep_files" not in [t.name for t in model.calls[-1].tools]

    letta.folders.files.delete(notes.id, folder_id=folder.id)
    with pytest.raises(LettaNotFound):
        letta.folders.files.retrieve(notes.id, folder_id=folder.id)
    letta.folders.delete(folder.id)
    with pytest.raises(LettaNotFound):
        letta.folders.retrieve(folder.id)


def test_letta_client_duplicates_and_bad_files(served: tuple[Letta, ScriptedModel]) -> None:
    """duplicate_handling suffix (default), skip, error, replace; bad files end in error."""
    letta, _ = served
    folder = letta.folders.create(name="inbox")
    first = letta.folders.files.upload(folder.id, file=("a.md", b"# One\nfirst", "text/markdown"))
    second = letta.folders.files.upload(folder.id, file=("a.md", b"# Two\nsecond", "text/markdown"))
    assert second.file_name == "a_(1).md" and second.original_file_name == "a.md"
    skipped = letta.folders.files.upload(folder.id, file=("a.md", b"x", "text/markdown"), duplicate_handling="skip")
    assert skipped.id == first.id
    with pytest.raises(ConflictError):
        letta.folders.files.upload(folder.id, file=("a.md", b"x", "text/markdown"), duplicate_handling="error")
    wait_processed(letta, folder.id, first.id)
    replaced = letta.folders.files.upload(folder.id, file=("a.md", b"# Three\nthird", "text/markdown"),
                                          duplicate_handling="replace")
    assert replaced.id != first.id and replaced.file_name == "a.md"
    with pytest.raises(LettaNotFound):
        letta.folders.files.retrieve(first.id, folder_id=folder.id)
    done = wait_processed(letta, folder.id, replaced.id)
    content = letta.folders.files.retrieve(replaced.id, folder_id=folder.id, include_content=True).content
    assert done.processing_status == "completed" and content == "# Three\nthird"

    bad = {
        "broken.pdf": (b"%PDF-1.4 this is not really a pdf", "cannot read the PDF"),
        "blob.txt": (b"\x00\x01\x02binary\x00", "binary"),
        "latin.txt": ("café".encode("latin-1"), "not UTF-8"),
        "empty.md": (b"   \n", "no text"),
        "data.json": (b'{"a": [1, 2', "invalid JSON"),
    }
    for name, (data, message) in bad.items():
        up = letta.folders.files.upload(folder.id, file=(name, data, "application/octet-stream"))
        f = wait_processed(letta, folder.id, up.id)
        assert f.processing_status == "error" and message in (f.error_message or ""), (name, f.error_message)
        assert f.chunks_embedded == 0
    with pytest.raises(BadRequestError):
        letta.folders.files.upload(folder.id, file=("tool.exe", b"MZ", "application/octet-stream"))
    csv = letta.folders.files.upload(folder.id, file=("t.csv", b"name,age\nbo,3\n", "text/csv"))
    code = letta.folders.files.upload(folder.id, file=("m.py", b"def f():\n    return 1\n", "text/x-python"))
    packed = letta.folders.files.upload(folder.id, file=("p.json", b'{"a": {"b": [1, 2, 3]}}', "application/json"))
    for f in (csv, code, packed):
        assert wait_processed(letta, folder.id, f.id).processing_status == "completed"
    spread = letta.folders.files.retrieve(packed.id, folder_id=folder.id, include_content=True).content or ""
    assert spread.count("\n") > 3  # packed JSON is spread over lines, for grep and open


# --- the service, on SQLite and PostgreSQL ----------------------------------------------------
@pytest.fixture(params=["sqlite", "postgres"])
async def svc(request: pytest.FixtureRequest, settings: Settings, model: ScriptedModel) -> AsyncIterator[AgentService]:
    """A service on each database."""
    if request.param == "postgres":
        url = await request.getfixturevalue("postgres").database()
        settings = settings.model_copy(update={"database_url": url})
    async with AgentService(settings, models={"scripted": model}) as service:
        yield service
        await file_processing.pending()


async def upload(svc: AgentService, folder_id: str, name: str, data: bytes) -> FileInfo:
    """Upload and wait for processing."""
    return await svc.upload_file(folder_id, io.BytesIO(data), file_name=name, wait=True)


async def test_store_search_lru_and_cascades(svc: AgentService) -> None:
    """Chunks are found by words and vectors; opening past the cap closes the least recently
    used; deleting a file or folder takes it from agents; tools only while a folder is attached."""
    folder = await svc.create_folder("docs", instructions="Cite the file.")
    with pytest.raises(AlreadyExistsError):
        await svc.create_folder("docs")
    text = await upload(svc, folder.id, "story.txt", long_text(60, 40).encode())
    assert text.status == "completed" and text.total_chunks == text.chunks_embedded > 1
    agent = await svc.create_agent("r", model="scripted", context_window=8000)
    limit = file_limits(8000).max_files_open
    names = [f"f{n}.txt" for n in range(limit + 1)]
    for n, name in enumerate(names):
        await upload(svc, folder.id, name, f"File number {n}.\nSecond line {n}.".encode())
    await svc.attach_folder(agent.id, folder.id)
    files = await svc.agent_files(agent.id)
    assert len(files) == limit + 2 and sum(f.is_open for f in files) == limit
    assert {f.file_name for f in files if f.is_open} == set(names[-limit:])  # the newest open

    port = AgentFiles(svc.folder_store, svc.embedder, agent.id, 8000)
    found = await port.search("the telescope lent to Ondine Varga")
    assert TEXT_NEEDLE in found.split("\n2. ")[0], found
    assert "docs/story.txt" in await port.grep("ondine varga")
    assert "No matches" in await port.grep("zzqx")
    closed = await svc.open_file(agent.id, text.id)
    assert closed == [f"docs/{names[-limit]}"]  # the least recently used
    assert "1: Paragraph 1." in await port.render()

    await svc.delete_file(folder.id, text.id)
    assert text.id not in [f.file_id for f in await svc.agent_files(agent.id)]
    assert "Ondine" not in await port.search("telescope lent to Ondine Varga")
    assert "open_files" in (await svc.agent_tools(await svc.get_agent(agent.id))).tools
    await svc.delete_folder(folder.id)
    assert await svc.agent_files(agent.id) == [] and await svc.agent_folders(agent.id) == []
    assert "open_files" not in (await svc.agent_tools(await svc.get_agent(agent.id))).tools


async def test_tenancy_and_bad_requests(svc: AgentService) -> None:
    """Another user gets 404 for a folder, its files and agents; bad names are refused."""
    folder = await svc.create_folder("private")
    info = await upload(svc, folder.id, "s.txt", b"secret plans")
    agent = await svc.create_agent("mine", model="scripted")
    await svc.attach_folder(agent.id, folder.id)
    bob = svc.scoped("bob")
    theirs = await bob.create_agent("theirs", model="scripted")
    attempts = [bob.retrieve_folder(folder.id), bob.list_files(folder.id), bob.folder_agents(folder.id),
                bob.retrieve_file(folder.id, info.id), bob.delete_file(folder.id, info.id),
                bob.delete_folder(folder.id), bob.attach_folder(theirs.id, folder.id),
                bob.agent_files(agent.id), bob.open_file(agent.id, info.id),
                bob.upload_file(folder.id, io.BytesIO(b"x"), file_name="x.txt"),
                bob.modify_folder(folder.id, name="pwned")]
    for attempt in attempts:
        with pytest.raises(NotFoundError):
            await attempt
    assert await bob.list_folders() == []
    assert (await bob.create_folder("private")).id != folder.id  # names are per user
    for bad in ("", "a/b"):
        with pytest.raises(InvalidRequestError):
            await svc.create_folder(bad)
    with pytest.raises(InvalidRequestError):
        await svc.upload_file(folder.id, io.BytesIO(b"x"), file_name="..")
    other = await svc.create_folder("other")
    with pytest.raises(NotFoundError):
        await svc.retrieve_file(other.id, info.id)  # a file is reached through its own folder


async def test_interrupted_processing_is_marked_error(settings: Settings, model: ScriptedModel) -> None:
    """A file left "parsing" by a process of this host that died is marked error when the
    next service opens its folders; chunks it left are removed."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead = f"{socket.gethostname()[:30]}:{gone.pid}:0123456789ab"
    async with AgentService(settings, models={"scripted": model}) as svc:
        folder = await svc.create_folder("f")
        info = FileInfo(folder_id=folder.id, file_name="a.txt", original_file_name="a.txt",
                        file_type="text/plain", file_size=3, status="parsing")
        await svc.folder_store.add_file(info, dead)
        await svc.folder_store.add_chunks(info, svc.embedder.name, 0, [
            ChunkIn("half made", None, svc.embedder.embed(["half made"])[0])])
    async with AgentService(settings, models={"scripted": model}) as svc:
        [f] = await svc.list_files(folder.id)
        assert f.status == "error" and "interrupted" in (f.error_message or ""), f
        assert await svc.folder_store.chunk_count(info.id) == 0


def test_cli_folders_group(tmp_path: Path) -> None:
    """memgpt folders create/upload/files/list/attach/detach/delete, on the demo agent."""
    from typer.testing import CliRunner

    from memgpt.cli.main import app

    home = str(tmp_path / "home")
    runner = CliRunner()
    doc = tmp_path / "guide.md"
    doc.write_text("# Guide\nThe spare key is under the blue pot.\n")
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"%PDF-1.4 broken")

    def ok(*args: str) -> str:
        out = runner.invoke(app, [*args, "--home", home])
        assert out.exit_code == 0, out.output
        return out.output

    folder_id = ok("folders", "create", "guides", "--description", "House guides.").strip()
    assert folder_id.startswith("source-")
    assert "completed" in ok("folders", "upload", "guides", str(doc))
    failed = runner.invoke(app, ["folders", "upload", folder_id, str(bad), "--home", home])
    assert failed.exit_code == 1 and "cannot read the PDF" in failed.output
    listed = ok("folders", "files", "guides")
    assert "guide.md" in listed and "bad.pdf" in listed
    assert "guides  2 files" in ok("folders", "list")
    ok("demo")
    assert "demo now has 1 files" in ok("folders", "attach", "demo", "guides")
    ok("folders", "detach", "demo", "guides")
    assert f"deleted {folder_id}" in ok("folders", "delete", "guides")
    missing = runner.invoke(app, ["folders", "files", "guides", "--home", home])
    assert missing.exit_code == 1 and "no folder 'guides'" in missing.output
