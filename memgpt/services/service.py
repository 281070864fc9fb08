"""AgentService: the one async API every front end (Python, CLI, server) goes through.

It is the resource services (agents, messages, memory, tools, keys, agent files) joined over
one ``Kernel``; ``scoped(owner)`` gives another user's view of the same kernel.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Self

from memgpt.core.errors import InvalidRequestError
from memgpt.core.settings import Settings
from memgpt.embeddings import Embedder
from memgpt.llm.base import Model
from memgpt.services.agentfiles import AgentFilesApi
from memgpt.services.blocks import BlocksApi
from memgpt.services.base import LOCAL_OWNER
from memgpt.services.identities import IdentitiesApi
from memgpt.services.kernel import Kernel, ModelResolver
from memgpt.services.keys import KeysApi
from memgpt.services.memory import MemoryApi
from memgpt.services.messages import MessagesApi
from memgpt.services.archives import ArchivesApi
from memgpt.services.conversations import ConversationsApi
from memgpt.services.folders import FoldersApi
from memgpt.services.mcp import McpApi
from memgpt.services.runs import RunsApi
from memgpt.services.schedules import SchedulesApi

__all__ = ["AgentService", "LOCAL_OWNER", "ModelResolver", "default_service"]


class AgentService(AgentFilesApi, MessagesApi, MemoryApi, BlocksApi, IdentitiesApi, KeysApi, ArchivesApi,
                   FoldersApi, RunsApi, SchedulesApi, ConversationsApi, McpApi):
    """Create, run and inspect agents. Async; see ``memgpt.MemGPT`` for the sync wrapper."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        models: Mapping[str, Model] | ModelResolver | None = None,
        embedder: Embedder | None = None,
        kernel: Kernel | None = None,
        owner: str = LOCAL_OWNER,
    ) -> None:
        super().__init__(kernel or Kernel(settings, models=models, embedder=embedder), owner)

    def scoped(self, owner: str) -> AgentService:
        """A view of this service that sees and creates only owner's agents.

        The view shares the kernel (database, caches, locks); close the original, not the view.
        """
        if not owner:
            raise InvalidRequestError("owner must be non-empty")
        return AgentService(kernel=self.kernel, owner=owner)

    def model(self, name: str) -> Model:
        """The model under name: a configured one, else a provider spec like openai/gpt-4o."""
        return self.kernel.model(name)

    async def open(self) -> Self:
        """Create or migrate the database. Called by ``async with``."""
        await self.kernel.open()
        return self

    async def close(self) -> None:
        """Release database connections."""
        await self.kernel.close()

    async def __aenter__(self) -> Self:
        return await self.open()

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


def default_service(settings: Settings | None = None, *, embedder: Embedder | None = None) -> AgentService:
    """The service the CLI and ``memgpt server`` run: settings from the environment, with the
    offline demo model configured beside provider models."""
    from memgpt.llm.demo import DEMO_MODEL, demo_model

    return AgentService(settings, models={DEMO_MODEL: demo_model()}, embedder=embedder)
