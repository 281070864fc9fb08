"""Loading documents into archival memory (the MemGPT paper's document-analysis use case).

``load_path`` reads .txt, .md, .pdf and .html/.htm files (or a directory of them, recursively),
cuts their text into overlapping passages of about ``chunk_tokens`` tokens and stores the new
ones in an agent's archival memory.

Passages. Each passage is one chunk of text preceded by a source line::

    Source: manual.pdf, page 150
    The body of the chunk ...

The source line is part of the text on purpose: ``archival_memory_search`` shows the agent
passage text only, so this is how the agent can cite where a passage came from. It is not
bracketed because Rich, which renders memgpt's terminal output, takes ``[source: ...]`` for a
style tag and drops it. Every passage is also tagged ``source:<name>`` (plus any tags the
caller gives) for filtering by program.

Chunking. Each PDF page is chunked on its own, so a passage cites exactly one page. Text is
split into paragraphs (at blank lines), then paragraphs into sentences; over-long sentences
are split between words, over-long words between characters. Sentences are packed greedily
up to ``chunk_tokens`` (counted with ``memgpt.llm.tokens.estimate_tokens``, the tokenizer
memgpt counts context with). A chunk that is at least half full ends at a paragraph boundary
rather than splitting the next paragraph. Each new chunk starts with the last whole
sentences of the previous one, up to ``overlap`` tokens (or its last words, if the last
sentence alone is longer), so a fact cut by a chunk boundary is still found whole in one of
the two passages. ``chunk_tokens`` bounds the body; the source line adds about ten tokens.

Deduplication and resuming. A passage's identity is the sha256 of its body with whitespace
collapsed (the source line is not part of it). Before storing, the hashes of every passage the
agent already holds are computed (the same way; for passages without a source line, over the
whole text), and chunks whose hash is known are skipped, as are repeats within one load. So the
same text is never stored twice for an agent, whichever file it came from or whether the agent
stored it itself, and re-running an interrupted or finished load stores only what is missing.
Passages are stored in batches, each batch in one transaction.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from memgpt.core.errors import InvalidRequestError
from memgpt.llm.tokens import estimate_tokens

if TYPE_CHECKING:
    from memgpt.services.memory import MemoryApi as AgentService  # what loading uses of it

DEFAULT_CHUNK_TOKENS = 300
DEFAULT_OVERLAP = 50
MIN_CHUNK_TOKENS = 16
BATCH_SIZE = 64
TEXT_SUFFIXES = frozenset({".txt", ".md", ".markdown"})
PDF_SUFFIXES = frozenset({".pdf"})
HTML_SUFFIXES = frozenset({".html", ".htm"})
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | PDF_SUFFIXES | HTML_SUFFIXES
# Elements whose text is not document content.
HTML_DROP = ("script", "style", "nav", "noscript", "template", "svg", "iframe", "head", "form")
# Elements that end a paragraph (a line break for <br>).
HTML_BLOCKS = (
    "p", "div", "section", "article", "main", "aside", "header", "footer", "blockquote", "pre",
    "h1", "h2", "h3", "h4", "h5", "h6", "li", "dt", "dd", "tr", "table", "figure", "figcaption",
    "ul", "ol", "dl", "hr", "address", "details", "summary", "caption",
)

_PARAGRAPH_BREAK = re.compile(r"\n[ \t\r\f\v]*\n\s*")
_SENTENCE_END = re.compile(r"[.!?\u2026]+[\"'\u201d\u2019)\]]*(?=\s+[\"'\u201c\u2018(\[]?[A-Z0-9])")
_SOURCE_LINE = re.compile(r"\ASource: [^\n]*\n")
_SEPARATOR_TOKENS = {"para": 2, "line": 1, "space": 1}

Separator = Literal["para", "line", "space"]
Stage = Literal["read", "store"]


class LoadError(InvalidRequestError):
    """A load cannot start: the path is missing or the options are out of range."""


@dataclass(frozen=True)
class Section:
    """Extracted text of a document or of one of its pages."""

    text: str
    page: int | None = None


@dataclass(frozen=True)
class Chunk:
    """One passage body and the page it was taken from (None if the format has no pages)."""

    text: str
    page: int | None = None


@dataclass(frozen=True)
class LoadProgress:
    """Where a load is: reading files (``done`` of ``total`` files) or storing passages."""

    stage: Stage
    done: int
    total: int
    detail: str = ""


@dataclass(frozen=True)
class Skipped:
    """A file that was not loaded, and why."""

    path: str
    reason: str


@dataclass
class FileResult:
    """What one file contributed."""

    source: str
    chunks: int
    stored: int = 0
    duplicates: int = 0
    pages: int | None = None


@dataclass
class LoadReport:
    """The outcome of ``load_path``."""

    agent_id: str
    files: list[FileResult] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def chunks(self) -> int:
        """Chunks cut from all files."""
        return sum(f.chunks for f in self.files)

    @property
    def stored(self) -> int:
        """Passages newly stored."""
        return sum(f.stored for f in self.files)

    @property
    def duplicates(self) -> int:
        """Chunks not stored because the agent already had (or this load repeated) their text."""
        return sum(f.duplicates for f in self.files)


ProgressHandler = Callable[[LoadProgress], None]


# --- chunking ------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Unit:
    """A sentence (or a piece of one) with the separator that precedes it in its chunk."""

    text: str
    tokens: int
    page: int | None
    sep: Separator
    paragraph_tokens: int  # for the first unit of a paragraph: the whole paragraph's tokens


def _split_long(text: str, limit: int) -> list[str]:
    """Pieces of at most ``limit`` tokens, cut between words, else between characters."""
    if estimate_tokens(text) <= limit:
        return [text]
    pieces: list[str] = []
    current = ""
    for word in text.split():
        if estimate_tokens(word) > limit:
            if current:
                pieces.append(current)
                current = ""
            step = max(1, limit // 4)  # a character is at most 4 bytes, so at most 4 tokens
            pieces.extend(word[i : i + step] for i in range(0, len(word), step))
            continue
        candidate = f"{current} {word}" if current else word
        if estimate_tokens(candidate) <= limit:
            current = candidate
        else:
            pieces.append(current)
            current = word
    if current:
        pieces.append(current)
    return pieces


def _sentences(paragraph: str) -> list[tuple[str, Separator]]:
    """A paragraph's sentences, each with the kind of whitespace before it."""
    out: list[tuple[str, Separator]] = []
    start = 0
    sep: Separator = "space"
    for match in _SENTENCE_END.finditer(paragraph):
        piece = paragraph[start : match.end()]
        rest = paragraph[match.end() :]
        gap = len(rest) - len(rest.lstrip())
        if piece.strip():
            out.append((piece.strip(), sep))
        sep = "line" if "\n" in rest[:gap] else "space"
        start = match.end() + gap
    if paragraph[start:].strip():
        out.append((paragraph[start:].strip(), sep))
    return out


def _units(section: Section, limit: int) -> Iterator[_Unit]:
    for paragraph in _PARAGRAPH_BREAK.split(section.text.replace("\r\n", "\n")):
        paragraph = "\n".join(line.rstrip() for line in paragraph.strip().splitlines())
        if not paragraph:
            continue
        pieces: list[tuple[str, Separator, int]] = []
        for sentence, sep in _sentences(paragraph):
            for n, piece in enumerate(_split_long(sentence, limit)):
                pieces.append((piece, sep if n == 0 else "space", estimate_tokens(piece)))
        total = sum(t + _SEPARATOR_TOKENS[s] for _, s, t in pieces)
        for n, (piece, sep, tokens) in enumerate(pieces):
            yield _Unit(
                piece, tokens, section.page, "para" if n == 0 else sep, total if n == 0 else 0
            )


def _tail(unit: _Unit, limit: int) -> list[_Unit]:
    """The last words of a unit longer than the overlap, up to ``limit`` tokens, as a unit."""
    words = unit.text.split()
    taken = 0
    while taken < len(words) and estimate_tokens(" ".join(words[-taken - 1 :])) <= limit:
        taken += 1
    if not taken:
        return []
    text = " ".join(words[-taken:])
    return [_Unit(text, estimate_tokens(text), unit.page, "space", 0)]


def _cost(units: Sequence[_Unit]) -> int:
    """An upper bound of the tokens of the units joined (separators counted generously)."""
    return sum(u.tokens for u in units) + sum(_SEPARATOR_TOKENS[u.sep] for u in units[1:])


def _join(units: Sequence[_Unit]) -> Chunk:
    parts: list[str] = []
    for n, u in enumerate(units):
        if n:
            parts.append({"para": "\n\n", "line": "\n", "space": " "}[u.sep])
        parts.append(u.text)
    return Chunk("".join(parts), units[0].page)


def _check_sizes(chunk_tokens: int, overlap: int) -> None:
    if chunk_tokens < MIN_CHUNK_TOKENS:
        raise LoadError(f"chunk_tokens must be at least {MIN_CHUNK_TOKENS} (got {chunk_tokens})")
    if not 0 <= overlap < chunk_tokens:
        raise LoadError(f"overlap must be between 0 and chunk_tokens - 1 (got {overlap})")


def chunk_sections(
    sections: Iterable[Section],
    *,
    chunk_tokens: int = DEFAULT_CHUNK_TOKENS,
    overlap: int = DEFAULT_OVERLAP,
) -> list[Chunk]:
    """Cut text into chunks of at most ``chunk_tokens`` tokens sharing up to ``overlap``.

    Each section (a PDF page) is cut on its own, so a chunk never spans pages.
    """
    _check_sizes(chunk_tokens, overlap)
    chunks: list[Chunk] = []
    for section in sections:
        chunks.extend(_pack(section, chunk_tokens, overlap))
    return chunks


def _pack(section: Section, chunk_tokens: int, overlap: int) -> list[Chunk]:
    chunks: list[Chunk] = []
    current: list[_Unit] = []
    fresh = 0  # units in `current` not already emitted in the previous chunk

    def emit() -> None:
        nonlocal current, fresh
        chunks.append(_join(current))
        carried: list[_Unit] = []
        for u in reversed(current):
            if _cost([u, *carried]) > overlap:
                break
            carried.insert(0, u)
        if not carried and overlap:
            carried = _tail(current[-1], overlap)
        current, fresh = carried, 0

    # Sentences longer than this are split, so that a piece still fits after the overlap.
    piece_limit = max(1, chunk_tokens - overlap - _SEPARATOR_TOKENS["para"])
    for unit in _units(section, piece_limit):
        if fresh and unit.sep == "para":
            room = chunk_tokens - _cost(current) - _SEPARATOR_TOKENS["para"]
            if unit.paragraph_tokens > room and _cost(current) >= chunk_tokens // 2:
                emit()  # end at this paragraph boundary rather than split the paragraph
        if fresh and _cost([*current, unit]) > chunk_tokens:
            emit()
        while current and _cost([*current, unit]) > chunk_tokens:
            current.pop(0)  # the carried overlap must leave room for new text
        current.append(unit)
        fresh += 1
    if fresh:
        chunks.append(_join(current))
    return chunks


def chunk_text(
    text: str, *, chunk_tokens: int = DEFAULT_CHUNK_TOKENS, overlap: int = DEFAULT_OVERLAP
) -> list[str]:
    """Cut one text into overlapping chunks (see ``chunk_sections``)."""
    return [c.text for c in chunk_sections([Section(text)], chunk_tokens=chunk_tokens, overlap=overlap)]


# --- reading -------------------------------------------------------------------------------
def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("utf-8", errors="replace")


def read_text(path: Path) -> list[Section]:
    """A plain-text or Markdown file, as is (Markdown syntax is kept: it reads fine)."""
    return [Section(_decode(path.read_bytes()))]


def read_pdf(path: Path) -> list[Section]:
    """The text layer of a PDF, one section per page (pages numbered from 1)."""
    from pypdf import PdfReader

    reader = PdfReader(path)
    return [Section(page.extract_text() or "", page=n) for n, page in enumerate(reader.pages, 1)]


def html_to_text(html: str) -> str:
    """Readable text of an HTML document: title and body, without scripts, styles or navigation.

    Block elements end paragraphs; inline elements flow into their paragraph.
    """
    from bs4 import BeautifulSoup
    from bs4.element import NavigableString

    soup = BeautifulSoup(html, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup.find_all(HTML_DROP):
        tag.decompose()
    for tag in soup.find_all("br"):
        tag.replace_with(NavigableString("\n"))
    for tag in soup.find_all(HTML_BLOCKS):
        tag.insert_before(NavigableString("\n\n"))
        tag.insert_after(NavigableString("\n\n"))
    paragraphs = []
    for block in _PARAGRAPH_BREAK.split(soup.get_text()):
        lines = (" ".join(line.split()) for line in block.splitlines())
        text = "\n".join(line for line in lines if line)
        if text:
            paragraphs.append(text)
    if title and (not paragraphs or paragraphs[0] != title):
        paragraphs.insert(0, title)
    return "\n\n".join(paragraphs)


def read_html(path: Path) -> list[Section]:
    """An HTML file's readable text (see ``html_to_text``)."""
    return [Section(html_to_text(_decode(path.read_bytes())))]


def read_document(path: Path) -> list[Section]:
    """A supported file's text, by suffix."""
    suffix = path.suffix.lower()
    if suffix in PDF_SUFFIXES:
        return read_pdf(path)
    if suffix in HTML_SUFFIXES:
        return read_html(path)
    if suffix in TEXT_SUFFIXES:
        return read_text(path)
    raise LoadError(f"unsupported file type {suffix or '(none)'}: {path}")


def discover(path: Path) -> tuple[list[tuple[Path, str]], list[Skipped]]:
    """Files to load with their source names, and files skipped as unsupported.

    A file loads under its own name; a directory's files (recursively, in name order) load
    under their paths relative to the directory's parent, e.g. ``docs/guide/intro.md``.
    Hidden files and directories (names starting with a dot) are passed over silently.
    """
    if not path.exists():
        raise LoadError(f"no such file or directory: {path}")
    if path.is_file():
        if path.suffix.lower() not in SUPPORTED_SUFFIXES:
            return [], [Skipped(str(path), f"unsupported file type {path.suffix or '(none)'}")]
        return [(path, path.name)], []
    found: list[tuple[Path, str]] = []
    skipped: list[Skipped] = []
    base = path.resolve().parent
    for file in sorted(path.rglob("*")):
        relative = file.relative_to(path)
        if any(part.startswith(".") for part in relative.parts) or not file.is_file():
            continue
        name = file.resolve().relative_to(base).as_posix()
        if file.suffix.lower() in SUPPORTED_SUFFIXES:
            found.append((file, name))
        else:
            skipped.append(Skipped(name, f"unsupported file type {file.suffix or '(none)'}"))
    return found, skipped


# --- passages ------------------------------------------------------------------------------
def source_line(source: str, page: int | None = None) -> str:
    """``Source: name``, with ``, page N`` when known."""
    return f"Source: {source}" if page is None else f"Source: {source}, page {page}"


def passage_text(source: str, chunk: Chunk) -> str:
    """The stored text of a chunk: its source line, then its body."""
    return f"{source_line(source, chunk.page)}\n{chunk.text}"


def content_hash(text: str) -> str:
    """The identity of a passage body: sha256 of its words (whitespace collapsed)."""
    return hashlib.sha256(" ".join(text.split()).encode()).hexdigest()


def stored_hash(text: str) -> str:
    """The content hash of stored passage text (its source line, if any, left out)."""
    return content_hash(_SOURCE_LINE.sub("", text, count=1))


async def existing_hashes(service: AgentService, agent_id: str, page: int = 1000) -> set[str]:
    """The content hashes of every passage an agent holds."""
    hashes: set[str] = set()
    offset = 0
    while True:
        passages = await service.list_passages(agent_id, limit=page, offset=offset)
        hashes.update(stored_hash(p.text) for p in passages)
        if len(passages) < page:
            return hashes
        offset += page


@dataclass
class _Planned:
    result: FileResult
    texts: list[str]


def _read_and_chunk(path: Path, chunk_tokens: int, overlap: int) -> tuple[list[Chunk], int | None]:
    sections = read_document(path)
    pages = len(sections) if path.suffix.lower() in PDF_SUFFIXES else None
    return chunk_sections(sections, chunk_tokens=chunk_tokens, overlap=overlap), pages


async def load_path(
    service: AgentService,
    agent: str,
    path: str | Path,
    *,
    chunk_tokens: int = DEFAULT_CHUNK_TOKENS,
    overlap: int = DEFAULT_OVERLAP,
    tags: Sequence[str] = (),
    on_progress: ProgressHandler | None = None,
    batch_size: int = BATCH_SIZE,
) -> LoadReport:
    """Load a file or directory into an agent's archival memory; returns what was stored.

    Unsupported, unreadable and textless files are listed in ``LoadReport.skipped`` and do not
    stop the load. Progress is reported while reading (per file) and storing (per passage).
    """
    _check_sizes(chunk_tokens, overlap)
    state = await service.get_agent(agent)
    files, skipped = discover(Path(path))
    report = LoadReport(agent_id=state.id, skipped=skipped)
    known = await existing_hashes(service, state.id)
    plans: list[_Planned] = []
    for n, (file, source) in enumerate(files, 1):
        try:
            chunks, pages = await asyncio.to_thread(_read_and_chunk, file, chunk_tokens, overlap)
        except Exception as exc:  # a parser failure skips just this file
            report.skipped.append(Skipped(source, f"unreadable: {type(exc).__name__}: {exc}"))
            chunks, pages = [], None
        else:
            if not chunks:
                why = "no extractable text (a scanned PDF?)" if pages else "no text"
                report.skipped.append(Skipped(source, why))
        if chunks:
            result = FileResult(source, len(chunks), pages=pages)
            texts = []
            for chunk in chunks:
                digest = content_hash(chunk.text)
                if digest in known:
                    result.duplicates += 1
                else:
                    known.add(digest)
                    texts.append(passage_text(source, chunk))
            report.files.append(result)
            plans.append(_Planned(result, texts))
        if on_progress:
            on_progress(LoadProgress("read", n, len(files), source))
    total = sum(len(p.texts) for p in plans)
    done = 0
    if on_progress:
        on_progress(LoadProgress("store", 0, total))
    for plan in plans:
        file_tags = [*tags, f"source:{plan.result.source}"]
        for start in range(0, len(plan.texts), batch_size):
            batch = plan.texts[start : start + batch_size]
            await service.insert_passages(state.id, batch, file_tags)
            plan.result.stored += len(batch)
            done += len(batch)
            if on_progress:
                on_progress(LoadProgress("store", done, total, plan.result.source))
    return report
