"""Embedders behind HTTP: OpenAI's embeddings API and Ollama's OpenAI-compatible endpoint."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from memgpt.embeddings.base import Vectors
from memgpt.core.errors import ModelError

if TYPE_CHECKING:
    import openai

OPENAI_DIMS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}
OLLAMA_DIMS = {
    "nomic-embed-text": 768, "mxbai-embed-large": 1024, "all-minilm": 384, "bge-m3": 1024,
    "snowflake-arctic-embed": 1024, "bge-large": 1024, "granite-embedding": 384,
}
OLLAMA_DEFAULT_HOST = "http://localhost:11434"


def _normalised(rows: list[list[float]]) -> Vectors:
    out = np.asarray(rows, dtype=np.float32)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    result: Vectors = out / norms
    return result


class OpenAICompatibleEmbedder:
    """Batched calls to ``POST {base_url}/embeddings`` through the openai SDK (sync)."""

    def __init__(
        self,
        model: str,
        *,
        name: str,
        dim: int,
        base_url: str | None = None,
        api_key: str | None = None,
        dimensions: int | None = None,
        batch_size: int = 256,
        timeout: float = 60.0,
        max_retries: int = 4,
    ) -> None:
        self.model = model
        self.name = name
        self.dim = dim
        self.semantic = True
        self.dimensions = dimensions
        self.batch_size = batch_size
        import openai  # the SDK loads slowly: only when a remote embedder is made

        self.client = openai.OpenAI(
            api_key=api_key or "no-key-needed", base_url=base_url, timeout=timeout, max_retries=max_retries
        )

    def _request(self, texts: list[str]) -> Vectors:
        # The API rejects empty strings; a lone space embeds "nothing" instead.
        inputs = [t if t.strip() else " " for t in texts]
        import openai  # loaded by __init__ already

        try:
            if self.dimensions is None:
                reply = self.client.embeddings.create(model=self.model, input=inputs, encoding_format="float")
            else:
                reply = self.client.embeddings.create(
                    model=self.model, input=inputs, encoding_format="float", dimensions=self.dimensions
                )
        except openai.APIStatusError as exc:
            raise ModelError(f"{self.name}: embeddings request failed ({exc.status_code}): {exc.message}") from exc
        except openai.APITimeoutError as exc:
            raise ModelError(f"{self.name}: embeddings request timed out (after retries)") from exc
        except openai.APIConnectionError as exc:
            raise ModelError(f"{self.name}: cannot connect to {self.client.base_url}") from exc
        data = sorted(reply.data, key=lambda d: d.index)
        if len(data) != len(texts):
            raise ModelError(f"{self.name}: asked for {len(texts)} embeddings, got {len(data)}")
        return _normalised([list(d.embedding) for d in data])

    def embed(self, texts: list[str]) -> Vectors:
        """Embed texts, ``batch_size`` per request; rows are L2-normalised."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = [self._request(texts[i : i + self.batch_size]) for i in range(0, len(texts), self.batch_size)]
        out = np.vstack(parts)
        if out.shape[1] != self.dim:
            if self.dim:
                raise ModelError(f"{self.name}: expected {self.dim} dimensions, got {out.shape[1]}")
            self.dim = int(out.shape[1])
        return out


class OpenAIEmbedder(OpenAICompatibleEmbedder):
    """OpenAI embeddings (text-embedding-3-small by default); the key comes from OPENAI_API_KEY."""

    def __init__(
        self,
        model: str = "text-embedding-3-small",
        *,
        dimensions: int | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        batch_size: int = 256,
        timeout: float = 60.0,
        max_retries: int = 4,
    ) -> None:
        key = api_key or os.environ.get("OPENAI_API_KEY")
        if not key and not (base_url or os.environ.get("OPENAI_BASE_URL")):
            raise ModelError(f"openai/{model} needs an API key: set OPENAI_API_KEY in the environment")
        suffix = f":{dimensions}" if dimensions else ""
        super().__init__(
            model, name=f"openai/{model}{suffix}", dim=dimensions or OPENAI_DIMS.get(model, 0),
            base_url=base_url, api_key=key, dimensions=dimensions, batch_size=batch_size,
            timeout=timeout, max_retries=max_retries,
        )


def ollama_base_url(host: str | None = None) -> str:
    """Ollama's OpenAI-compatible base URL from host, else OLLAMA_HOST, else localhost."""
    url = host or os.environ.get("OLLAMA_HOST") or OLLAMA_DEFAULT_HOST
    url = (url if "://" in url else f"http://{url}").rstrip("/")
    return url if url.endswith("/v1") else url + "/v1"


class OllamaEmbedder(OpenAICompatibleEmbedder):
    """An Ollama embedding model (e.g. nomic-embed-text) via its /v1/embeddings endpoint."""

    def __init__(
        self,
        model: str = "nomic-embed-text",
        *,
        host: str | None = None,
        dim: int | None = None,
        batch_size: int = 64,
        timeout: float = 120.0,
        max_retries: int = 2,
    ) -> None:
        bare = model.split(":")[0]
        super().__init__(
            model, name=f"ollama/{model}", dim=dim or OLLAMA_DIMS.get(bare, 0),
            base_url=ollama_base_url(host), api_key="ollama", batch_size=batch_size,
            timeout=timeout, max_retries=max_retries,
        )
