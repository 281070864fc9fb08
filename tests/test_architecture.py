"""The shape of the package: no import cycles, small files, and light imports.

The layering itself is checked by ``lint-imports`` (contracts in pyproject.toml, run by .ci/run);
these tests cover what its contracts do not. The import checks run in a fresh interpreter and
look at ``sys.modules``: deterministic, unlike timings.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

import memgpt

PACKAGE_DIR = Path(memgpt.__file__).parent
MAX_LINES = 600


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_cycle_finder_finds_cycles() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert _cycles(edges) == [["a", "b", "c"]]


def test_no_import_cycles_between_modules() -> None:
    """No module imports itself through others, counting imports inside functions and under
    TYPE_CHECKING (a package's __init__ counts as a module)."""
    graph = grimp.build_graph("memgpt", cache_dir=None)
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    cycles = _cycles(edges)
    details = []
    for component in cycles:
        members = set(component)
        for importer in component:
            for imported in sorted(edges[importer] & members):
                details_of = graph.get_import_details(importer=importer, imported=imported)
                lines = [d["line_number"] for d in details_of]
                details.append(f"{importer} -> {imported} (l.{', '.join(map(str, lines))})")
    assert not cycles, "import cycles:\n" + "\n".join(details)


def test_no_file_is_over_600_lines() -> None:
    long = {
        str(path.relative_to(PACKAGE_DIR.parent)): n
        for path in sorted(PACKAGE_DIR.rglob("*.py"))
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"files over {MAX_LINES} lines (split them): {long}"


def _loaded_after(code: str) -> set[str]:
    """The modules a fresh interpreter has loaded after running code."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


def _heavy(loaded: set[str], names: list[str]) -> list[str]:
    return sorted(n for n in names if n in loaded or any(m.startswith(n + ".") for m in loaded))


# Loaded only when used: provider SDKs, the web stack, the local embedding model, the vector
# index, document parsers, tokenizers, and the service with its storage (SQLAlchemy, Alembic).
NOT_FOR_MEMGPT = [
    "openai", "anthropic", "httpx", "fastapi", "starlette", "uvicorn", "onnxruntime", "tokenizers",
    "faiss", "pypdf", "bs4", "tiktoken", "sqlalchemy", "alembic",
    "memgpt.services", "memgpt.storage", "memgpt.server", "memgpt.embeddings",
]


def test_importing_memgpt_is_light() -> None:
    loaded = _loaded_after("import memgpt\nfrom memgpt import MemGPT")
    assert "memgpt.sdk.local" in loaded
    assert _heavy(loaded, NOT_FOR_MEMGPT) == []


def test_public_names_resolve() -> None:
    """Every lazily re-exported name imports (and names outside __all__ do not)."""
    code = (
        "import memgpt\n"
        "missing = [n for n in memgpt.__all__ if getattr(memgpt, n, None) is None]\n"
        "assert not missing, missing\n"
        "assert not hasattr(memgpt, 'NoSuchName')\n"
        "from memgpt import AgentService, MemGPT, ScriptedModel, Settings\n"
        "from memgpt.services.service import AgentService as Service\n"
        "assert AgentService is Service and set(memgpt.__all__) <= set(dir(memgpt))\n"
        "import memgpt.embeddings as e\n"
        "assert {e.Embedder, e.HashingEmbedder, e.LocalEmbedder, e.OpenAIEmbedder, e.OllamaEmbedder}\n"
    )
    _loaded_after(code)


# `memgpt --help` (and each command's --help) needs typer and rich only.
NOT_FOR_HELP = [
    "sqlalchemy", "alembic", "fastapi", "starlette", "uvicorn", "numpy", "openai", "anthropic",
    "httpx", "onnxruntime", "tiktoken", "memgpt.server", "memgpt.services", "memgpt.embeddings",
    "memgpt.storage",
]


@pytest.mark.parametrize("argv", [["--help"], ["chat", "--help"], ["server", "--help"], ["keys", "--help"]])
def test_cli_help_is_light(argv: list[str]) -> None:
    code = (
        "import contextlib, io\n"
        "from memgpt.cli.main import app\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    try:\n"
        f"        app({argv!r}, prog_name='memgpt')\n"
        "    except SystemExit as exc:\n"
        "        assert not exc.code, exc.code\n"
        "assert 'Usage' in out.getvalue(), out.getvalue()\n"
    )
    assert _heavy(_loaded_after(code), NOT_FOR_HELP) == []
