"""Embedding models behind one small interface."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from memgpt.core.errors import InvalidRequestError

if TYPE_CHECKING:
    from memgpt.embeddings.base import Embedder
    from memgpt.embeddings.hashing import HashingEmbedder
    from memgpt.embeddings.local import LocalEmbedder
    from memgpt.embeddings.remote import OllamaEmbedder, OpenAIEmbedder

# Imported on first use (numpy, the openai SDK and ONNX Runtime load slowly).
_EXPORTS = {
    "Embedder": "memgpt.embeddings.base",
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
    "Embedder", "HashingEmbedder", "LocalEmbedder", "OllamaEmbedder", "OpenAIEmbedder",
    "embedder_from_spec",
]

SPECS = "local, hashing[-DIM-v1], openai[/MODEL[:DIMS]], ollama/MODEL[@HOST]"


def embedder_from_spec(spec: str) -> Embedder:
    """An embedder from a spec or a recorded name (e.g. ``local``, ``openai/text-embedding-3-small``)."""
    from memgpt.embeddings.hashing import HashingEmbedder
    from memgpt.embeddings.local import MODEL_NAME, LocalEmbedder
    from memgpt.embeddings.remote import OllamaEmbedder, OpenAIEmbedder

    spec = spec.strip()
    if spec in ("local", "minilm", MODEL_NAME):
        return LocalEmbedder()
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
