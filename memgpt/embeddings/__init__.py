"""Embedding models behind one small interface."""

from memgpt.embeddings.base import Embedder
from memgpt.embeddings.hashing import HashingEmbedder

__all__ = ["Embedder", "HashingEmbedder"]
