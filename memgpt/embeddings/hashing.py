"""A dependency-free offline embedder based on feature hashing.

A stepping stone until a neural local model is the default: it captures shared words and
word fragments (character trigrams), not meaning. Exact-word search is handled separately by
the lexical index, so names and ids do not depend on it.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np

from memgpt.embeddings.base import Vectors

_WORD = re.compile(r"\w+")


class HashingEmbedder:
    """Signed feature hashing of words and character trigrams into ``dim`` buckets."""

    def __init__(self, dim: int = 384) -> None:
        self.dim = dim
        self.name = f"hashing-{dim}-v1"
        self.semantic = False

    def _features(self, text: str) -> list[tuple[str, float]]:
        words = _WORD.findall(text.lower())
        feats: list[tuple[str, float]] = [(f"w:{w}", 1.0) for w in words]
        for w in words:
            padded = f"^{w}$"
            feats.extend((f"c:{padded[i:i + 3]}", 0.3) for i in range(len(padded) - 2))
        return feats

    def embed(self, texts: list[str]) -> Vectors:
        """Embed a batch of texts."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for feat, weight in self._features(text):
                digest = hashlib.blake2b(feat.encode(), digest_size=8).digest()
                h = int.from_bytes(digest, "little")
                out[row, h % self.dim] += weight if (h >> 63) & 1 else -weight
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        result: Vectors = out / norms
        return result
