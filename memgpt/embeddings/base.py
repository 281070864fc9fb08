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
        """Embed a batch of texts; returns an array of shape (len(texts), dim)."""
        ...
