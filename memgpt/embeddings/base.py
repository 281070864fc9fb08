"""The Embedder interface."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of a fixed dimension."""

    name: str
    dim: int
    semantic: bool
    """Whether similar vectors mean similar meaning (a neural model), not just shared
    surface features (feature hashing); hybrid search weighs the vectors only if so."""

    def embed(self, texts: list[str]) -> Vectors:
        """Embed a batch of texts to be found later (messages, passages); returns an array of
        shape (len(texts), dim)."""
        ...


def embed_query(embedder: Embedder, texts: list[str]) -> Vectors:
    """Embed search queries: through the embedder's ``embed_query`` if it has one (models
    trained with a query/passage prefix, such as e5), else like any other text.

    An optional method rather than part of the protocol, so every embedder that only knows
    ``embed`` (MiniLM, hashing, OpenAI, Ollama, a user's own) keeps working unchanged.
    """
    method = getattr(embedder, "embed_query", None)
    vectors: Vectors = method(texts) if callable(method) else embedder.embed(texts)
    return vectors


def warm(embedder: Embedder) -> None:
    """Load now what the embedder's first search would load (e5: its query graph), if it has
    a ``warm`` method; an embedder that only calls a service (OpenAI, Ollama) has none."""
    method = getattr(embedder, "warm", None)
    if callable(method):
        method()
