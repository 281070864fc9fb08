"""Reading uploaded files into text: documents (txt, md, pdf, html, via ``documents``),
data (json, csv) and source code. Strict where ``documents`` is lenient: an upload that is
binary, not UTF-8, empty or a corrupt PDF is refused with a message saying which, since a
folder's file is only useful if its text is right.
"""

from __future__ import annotations

import json
from pathlib import Path

from memgpt.services.documents import (
    HTML_SUFFIXES,
    PDF_SUFFIXES,
    Section,
    html_to_text,
    read_pdf,
)

DATA_SUFFIXES = frozenset({".json", ".jsonl", ".csv", ".tsv"})
TEXT_SUFFIXES = frozenset({".txt", ".md", ".markdown", ".rst", ".log", ".text"})
CODE_SUFFIXES = frozenset({
    ".py", ".pyi", ".js", ".mjs", ".ts", ".tsx", ".jsx", ".java", ".c", ".h", ".cc", ".cpp", ".hpp",
    ".cs", ".go", ".rs", ".rb", ".php", ".swift", ".kt", ".scala", ".sh", ".bash", ".zsh", ".sql",
    ".yaml", ".yml", ".toml", ".ini", ".cfg", ".xml", ".css", ".scss", ".r", ".lua", ".pl", ".dart",
    ".vue", ".svelte", ".ex", ".exs", ".erl", ".hs", ".ml", ".clj", ".jl", ".m", ".proto", ".graphql",
})
UPLOAD_SUFFIXES = TEXT_SUFFIXES | DATA_SUFFIXES | CODE_SUFFIXES | PDF_SUFFIXES | HTML_SUFFIXES
_MIME = {".pdf": "application/pdf", ".html": "text/html", ".htm": "text/html", ".json": "application/json",
         ".jsonl": "application/jsonl", ".csv": "text/csv", ".tsv": "text/tab-separated-values",
         ".md": "text/markdown", ".markdown": "text/markdown"}


class UnreadableFile(Exception):
    """The file's text cannot be read; the message says why (shown as its error status)."""


def file_type(name: str) -> str | None:
    """The MIME type an upload of this name is read as; None if the type is not supported."""
    suffix = Path(name).suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        return None
    return _MIME.get(suffix, "text/x-code" if suffix in CODE_SUFFIXES else "text/plain")


def _text(path: Path) -> str:
    data = path.read_bytes()
    if b"\x00" in data[:65536]:
        raise UnreadableFile("the file is binary, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableFile(f"the file is not UTF-8 text (byte {exc.start} cannot be decoded)") from exc


def _json(text: str, lines: bool) -> str:
    """JSON checked, and spread over lines when it came packed (so grep and open by line work)."""
    try:
        if lines:
            for n, line in enumerate(text.splitlines(), 1):
                if line.strip():
                    json.loads(line)
            return text
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UnreadableFile(f"invalid JSON: {exc}") from exc
    return text if text.count("\n") * 200 >= len(text) else json.dumps(value, indent=2, ensure_ascii=False)


def read_upload(path: Path, name: str) -> list[Section]:
    """The text of an uploaded file (PDFs one section per page); UnreadableFile if none."""
    suffix = Path(name).suffix.lower()
    if suffix in PDF_SUFFIXES:
        try:
            sections = read_pdf(path)
        except Exception as exc:  # pypdf raises many kinds for a damaged file
            raise UnreadableFile(f"cannot read the PDF: {exc}") from exc
    elif suffix in HTML_SUFFIXES:
        sections = [Section(html_to_text(_text(path)))]
    elif suffix in (".json", ".jsonl"):
        sections = [Section(_json(_text(path), suffix == ".jsonl"))]
    else:
        sections = [Section(_text(path))]
    if not any(s.text.strip() for s in sections):
        raise UnreadableFile("the file has no text" + (" layer" if suffix in PDF_SUFFIXES else ""))
    return sections


def joined(sections: list[Section]) -> str:
    """The whole text of a file, pages separated by a blank line."""
    return "\n\n".join(s.text.strip("\n") for s in sections if s.text.strip())
