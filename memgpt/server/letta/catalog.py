"""Letta's model catalogue, and a health check."""

from __future__ import annotations

from fastapi import APIRouter

from memgpt.core.version import VERSION as __version__
from memgpt.formats import letta as ls
from memgpt.server.deps import Service

router = APIRouter()


@router.get("/v1/models/", response_model=list[ls.ModelOut], tags=["models"])
@router.get("/v1/models", response_model=list[ls.ModelOut], include_in_schema=False)
async def list_models(service: Service) -> list[ls.ModelOut]:
    """The models this server is configured with; any ``provider/model[@base_url]`` also works."""
    s = service.settings
    return [ls.model_out(n, s.context_window, s.max_default_window) for n in service.model_names()]


@router.get("/v1/models/embedding", response_model=list[ls.EmbeddingModel], tags=["models"])
async def list_embedding_models(service: Service) -> list[ls.EmbeddingModel]:
    """The embedding model this server uses for archival memory."""
    return [ls.embedding_model(service.embedder)]


@router.get("/v1/health/", tags=["health"])
@router.get("/v1/health", include_in_schema=False)
async def health() -> dict[str, str]:
    """Liveness."""
    return {"status": "ok", "version": __version__}
