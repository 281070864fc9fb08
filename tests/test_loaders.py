"""Loading documents into archival memory: chunking, formats, directories, dedup, the CLI."""

from __future__ import annotations

import asyncio
import functools
import random
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from memgpt import AgentService, ScriptedModel, Settings
from memgpt.cli.main import app
from memgpt.core.errors import InvalidRequestError
from memgpt.llm.scripted import reply, tool_call
from memgpt.llm.tokens import estimate_tokens
from memgpt.services.documents import (
    LoadProgress,
    Section,
    chunk_sections,
    chunk_text,
    html_to_text,
    load_path,
    source_line,
)

WORDS = (
    "river stone lantern harbor meadow copper signal window garden winter ledger compass "
    "thunder orchard marble violet canyon beacon"
).split()


def sentence(rng: random.Random, low: int = 6, high: int = 18) -> str:
    """A random sentence of filler words."""
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high))).capitalize() + "."


def prose(seed: int, paragraphs: int, sentences: tuple[int, int] = (2, 7)) -> str:
    """Paragraphs of numbered filler sentences (numbers keep every sentence unique)."""
    rng = random.Random(seed)
    out, n = [], 0
    for _ in range(paragraphs):
        sents = []
        for _ in range(rng.randint(*sentences)):
            n += 1
            sents.append(f"S{n} {sentence(rng)}")
        out.append(" ".join(sents))
    return "\n\n".join(out)


def overlap_of(first: str, second: str) -> str:
    """The longest suffix of first that second starts with (whitespace-insensitive)."""
    a, b = first.split(), second.split()
    for size in range(min(len(a), len(b)), 0, -1):
        if a[-size:] == b[:size]:
            return " ".join(b[:size])
    return ""


# --- chunking --------------------------------------------------------------------------------
@pytest.mark.parametrize(("size", "overlap"), [(300, 50), (120, 30), (60, 0)])
def test_chunks_respect_size_and_overlap(size: int, overlap: int) -> None:
    """Every chunk fits; neighbours share whole sentences up to `overlap` tokens; nothing is lost."""
    text = prose(1, 40)
    chunks = chunk_text(text, chunk_tokens=size, overlap=overlap)
    assert len(chunks) > 3
    assert all(estimate_tokens(c) <= size for c in chunks), [estimate_tokens(c) for c in chunks]
    for first, second in zip(chunks, chunks[1:]):
        shared = overlap_of(first, second)
        assert estimate_tokens(shared) <= overlap
        if overlap:
            assert shared, "neighbouring chunks should overlap"
            assert re.match(r"S\d+ ", shared), f"overlap should start at a sentence: {shared!r}"
        assert second.rstrip().endswith(".")  # chunks end at sentence boundaries
    # Dropping each overlap gives back the text, word for word.
    words = chunks[0].split()
    for first, second in zip(chunks, chunks[1:]):
        words += second.split()[len(overlap_of(first, second).split()):]
    assert words == text.split()


def test_chunks_prefer_paragraph_boundaries() -> None:
    """A chunk that is at least half full ends at a paragraph break instead of splitting one."""
    paragraphs = [prose(seed, 1, (4, 4)) for seed in range(12)]
    chunks = chunk_text("\n\n".join(paragraphs), chunk_tokens=200, overlap=0)
    for c in chunks:
        assert c.split("\n\n")[-1] in paragraphs, "each chunk should end with a whole paragraph"


def test_unpunctuated_text_is_split_between_words_with_overlap() -> None:
    """A run-on text without sentence ends is still cut to size and still overlaps."""
    text = " ".join(f"word{i}" for i in range(3000))
    chunks = chunk_text(text, chunk_tokens=100, overlap=20)
    assert all(estimate_tokens(c) <= 100 for c in chunks)
    assert all(overlap_of(a, b) for a, b in zip(chunks, chunks[1:]))
    assert chunks[-1].endswith("word2999") and chunks[0].startswith("word0 ")
    giant = "x" * 5000  # one "word" longer than a chunk
    assert all(estimate_tokens(c) <= 50 for c in chunk_text(giant, chunk_tokens=50, overlap=10))


def test_pages_are_chunked_separately() -> None:
    """A chunk never spans two pages, so its citation names exactly one page."""
    pages = [Section(prose(p, 2), page=p) for p in range(1, 4)]
    chunks = chunk_sections(pages, chunk_tokens=300, overlap=50)
    assert {c.page for c in chunks} == {1, 2, 3}
    for c in chunks:
        assert c.page is not None
        assert all(s in pages[c.page - 1].text for s in re.findall(r"S\d+ [^.]*\.", c.text))
    assert source_line("a.pdf", 3) == "Source: a.pdf, page 3"
    assert source_line("a.md") == "Source: a.md"


@pytest.mark.parametrize(("size", "overlap"), [(10, 0), (100, 100), (100, -1)])
def test_bad_sizes_are_refused(size: int, overlap: int) -> None:
    """Chunk sizes below the minimum and overlaps not smaller than the chunk are errors."""
    with pytest.raises(InvalidRequestError):
        chunk_text("hello", chunk_tokens=size, overlap=overlap)


# --- formats ---------------------------------------------------------------------------------
def test_html_text_drops_scripts_styles_and_navigation() -> None:
    """Only readable content remains; blocks become paragraphs, inline tags flow."""
    html = (
        "<html><head><title>Field guide</title><style>p{color:red}</style>"
        "<script>var secret = 'tracking';</script></head><body>"
        "<nav><a href='/'>Home</a> | <a href='/about'>About menu</a></nav>"
        "<h1>Owls</h1><p>The <b>barn owl</b> hunts at night.<br>It nests in barns.</p>"
        "<ul><li>Tawny owl</li><li>Snowy owl</li></ul><noscript>enable js</noscript>"
        "<script>alert('x')</script></body></html>"
    )
    text = html_to_text(html)
    assert text.split("\n\n") == [
        "Field guide", "Owls", "The barn owl hunts at night.\nIt nests in barns.", "Tawny owl",
        "Snowy owl",
    ]
    for gone in ("secret", "color", "menu", "Home", "alert", "enable js"):
        assert gone not in text


async def new_agent(service: AgentService, name: str = "reader") -> str:
    """An agent on the scripted model."""
    return (await service.create_agent(name, model="scripted")).id


def write_docs(root: Path) -> None:
    """A small document tree: text, markdown, html, an unsupported file and a hidden one."""
    (root / "guide" / "deep").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / "notes.txt").write_text("The boiler pressure must stay below 2.5 bar.\n")
    (root / "guide" / "intro.md").write_text("# Intro\n\nThe pump room key hangs by the door.\n")
    (root / "guide" / "deep" / "page.html").write_text(
        "<html><body><nav>Menu</nav><p>Valve 12 is <em>always</em> closed.</p>"
        "<script>var leak = 1;</script></body></html>"
    )
    (root / "guide" / "photo.png").write_bytes(b"\x89PNG....")
    (root / ".git" / "config.txt").write_text("hidden, not loaded")
    (root / ".secret.md").write_text("hidden, not loaded")


async def test_load_text_markdown_and_html(service: AgentService, tmp_path: Path) -> None:
    """Each format loads with a source line and a source tag; HTML loses its script and nav."""
    agent = await new_agent(service)
    write_docs(tmp_path)
    for name in ["notes.txt", "guide/intro.md", "guide/deep/page.html"]:
        report = await load_path(service, agent, tmp_path / name, tags=["manual"])
        assert report.stored == 1 and report.skipped == []
    passages = {p.text: p for p in await service.list_passages(agent)}
    assert set(passages) == {
        "Source: notes.txt\nThe boiler pressure must stay below 2.5 bar.",
        "Source: intro.md\n# Intro\n\nThe pump room key hangs by the door.",
        "Source: page.html\nValve 12 is always closed.",
    }
    assert passages["Source: notes.txt\nThe boiler pressure must stay below 2.5 bar."].tags == [
        "manual", "source:notes.txt",
    ]
    found = await service.search_passages(agent, "pump room key")
    assert found[0].text.endswith("The pump room key hangs by the door.")


async def test_load_directory_recursively(service: AgentService, tmp_path: Path) -> None:
    """A directory loads every supported file below it, notes unsupported ones, skips hidden."""
    agent = await new_agent(service)
    docs = tmp_path / "docs"
    docs.mkdir()
    write_docs(docs)
    events: list[LoadProgress] = []
    report = await load_path(service, agent, docs, on_progress=events.append)
    assert [f.source for f in report.files] == [
        "docs/guide/deep/page.html", "docs/guide/intro.md", "docs/notes.txt",
    ]
    assert [(s.path, s.reason) for s in report.skipped] == [
        ("docs/guide/photo.png", "unsupported file type .png")
    ]
    assert report.stored == 3 and report.chunks == 3 and report.duplicates == 0
    texts = [p.text for p in await service.list_passages(agent)]
    assert not any("hidden" in t for t in texts)
    assert any(t.startswith("Source: docs/guide/intro.md\n") for t in texts)
    assert [(e.stage, e.done, e.total) for e in events if e.stage == "read"] == [
        ("read", 1, 3), ("read", 2, 3), ("read", 3, 3)
    ]
    assert (events[-1].stage, events[-1].done, events[-1].total) == ("store", 3, 3)


async def test_rerun_stores_nothing_new_and_resumes(service: AgentService, tmp_path: Path) -> None:
    """Loading again adds nothing; after losing passages a re-run stores just those; text
    shared between files (or already stored by the agent) is stored once."""
    agent = await new_agent(service)
    (tmp_path / "a.txt").write_text(prose(3, 30))
    (tmp_path / "b.md").write_text(prose(4, 10))
    (tmp_path / "copy.txt").write_text(prose(4, 10))  # same text as b.md
    first = await load_path(service, agent, tmp_path, chunk_tokens=100, overlap=20, batch_size=7)
    stored = await service.list_passages(agent, limit=1000)
    assert first.stored == len(stored) > 10
    assert first.duplicates == next(f.chunks for f in first.files if f.source.endswith("copy.txt"))
    assert len({p.text.split("\n", 1)[1] for p in stored}) == len(stored)

    again = await load_path(service, agent, tmp_path, chunk_tokens=100, overlap=20)
    assert again.stored == 0 and again.duplicates == first.chunks

    # Simulate an interrupted load: some passages never made it.
    for p in stored[:5]:
        await service.delete_passage(agent, p.id)
    resumed = await load_path(service, agent, tmp_path, chunk_tokens=100, overlap=20)
    assert resumed.stored == 5
    assert sorted(p.text for p in await service.list_passages(agent, limit=1000)) == sorted(
        p.text for p in stored
    )

    # Text the agent archived itself counts as present too.
    await service.insert_passage(agent, "Remember: the spare key is under the mat.")
    (tmp_path / "key.txt").write_text("Remember:  the spare key\nis under the mat.")
    assert (await load_path(service, agent, tmp_path / "key.txt")).duplicates == 1


async def test_bad_files_are_skipped_not_fatal(service: AgentService, tmp_path: Path) -> None:
    """A corrupt PDF and an empty file are reported; the rest of the directory still loads."""
    agent = await new_agent(service)
    (tmp_path / "broken.pdf").write_bytes(b"this is not a pdf")
    (tmp_path / "empty.txt").write_text("  \n\n ")
    (tmp_path / "good.txt").write_text("Good text.")
    report = await load_path(service, agent, tmp_path)
    reasons = {s.path.split("/")[-1]: s.reason for s in report.skipped}
    assert reasons["broken.pdf"].startswith("unreadable: ")
    assert reasons["empty.txt"] == "no text"
    assert report.stored == 1
    with pytest.raises(InvalidRequestError, match="no such file"):
        await load_path(service, agent, tmp_path / "missing")


# --- a 200-page PDF through the CLI and the agent loop --------------------------------------
NEEDLE = "The spare lighthouse lenses are kept in crate 7741 behind the Quellington boathouse."


def write_book(path: Path, pages: int = 200, needle_page: int = 150) -> None:
    """A PDF of filler pages (each unique), with NEEDLE in the middle of one page."""
    path.write_bytes(_book(pages, needle_page))


@functools.cache
def _book(pages: int, needle_page: int) -> bytes:
    """The book's bytes, made once per test session (the same every time: ~1 s for 200 pages)."""
    from fpdf import FPDF

    rng = random.Random(11)
    pdf = FPDF()
    pdf.set_font("Helvetica", size=10)
    for page in range(1, pages + 1):
        pdf.add_page()
        lines = [f"Chapter {page}."] + [sentence(rng, 8, 12) for _ in range(24)]
        if page == needle_page:
            lines.insert(12, NEEDLE)
        for n, line in enumerate(lines):
            pdf.text(15, 20 + n * 8, line)
    return bytes(pdf.output())


def test_pdf_book_loads_and_agent_finds_page_150(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`memgpt load` stores a 200-page PDF; archival_memory_search finds the page-150 sentence
    first, with a real semantic embedder (MiniLM: the default e5 costs ~330 ms per 300-token
    chunk on 2 cores, minutes for this book; its ranking is tested in tests/test_search.py)."""
    book = tmp_path / "lighthouse.pdf"
    write_book(book)
    home = tmp_path / "home"
    model = ScriptedModel()
    monkeypatch.setenv("MEMGPT_EMBEDDER", "minilm")

    async def create() -> None:
        async with AgentService(Settings(home=home), models={"scripted": model}) as svc:
            await svc.create_agent("keeper", model="scripted")

    asyncio.run(create())
    runner = CliRunner()
    out = runner.invoke(app, ["load", "keeper", str(book), "--home", str(home), "--tag", "manual"])
    assert out.exit_code == 0, out.output
    assert "Storing passages" in out.output
    summary = re.search(r"Loaded 1 file\(s\) into keeper: (\d+) passages, (\d+) stored, 0 already", out.output)
    assert summary, out.output
    assert int(summary.group(1)) == int(summary.group(2)) >= 200

    again = runner.invoke(app, ["load", "keeper", str(book), "--home", str(home)])
    assert again.exit_code == 0, again.output
    assert f"0 stored, {summary.group(1)} already present" in again.output

    async def ask() -> str:
        async with AgentService(Settings(home=home), models={"scripted": model}) as svc:
            model.push(
                tool_call("archival_memory_search", query="where are the spare lighthouse lenses?",
                          request_heartbeat=True),
                reply("In crate 7741 (page 150)."),
            )
            result = await svc.send_message("keeper", "Where are the spare lenses kept?")
            assert result.replies == ["In crate 7741 (page 150)."]
            [found] = [r for m in result.messages for r in m.tool_results
                       if r.name == "archival_memory_search"]
            return found.content

    content = asyncio.run(ask())
    header, *items = re.split(r"\n(?=- \[)", content)
    assert header.startswith("Showing 5 of "), content
    # The file name is in every passage's source line, so every passage matches "lighthouse";
    # the needle must still come first, cited with its page.
    assert NEEDLE in items[0] and "Source: lighthouse.pdf, page 150\n" in items[0], content
