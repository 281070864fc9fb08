"""MemGPT: a synchronous wrapper over AgentService, running its event loop in a thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar

from memgpt.embeddings import Embedder
from memgpt.llm.base import Model
from memgpt.memory.stores import Page
from memgpt.core.schemas import AgentState, Block, ContextReport, Message, Passage, SendResult, ToolDef
from memgpt.services.service import AgentService, ModelResolver
from memgpt.core.settings import Settings

T = TypeVar("T")


class MemGPT:
    """Blocking access to agents; safe to call from several threads at once."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        models: Mapping[str, Model] | ModelResolver | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="memgpt-loop", daemon=True)
        self._thread.start()
        self.service = AgentService(settings, models=models, embedder=embedder)
        self._run(self.service.open())

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def close(self) -> None:
        """Close the database and stop the background loop."""
        self._run(self.service.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def create_agent(self, name: str, *, model: str, **options: Any) -> AgentState:
        """Create an agent (options as AgentService.create_agent)."""
        return self._run(self.service.create_agent(name, model=model, **options))

    def list_agents(self) -> list[AgentState]:
        """Every agent."""
        return self._run(self.service.list_agents())

    def get_agent(self, agent: str) -> AgentState:
        """An agent by id or name."""
        return self._run(self.service.get_agent(agent))

    def update_agent(self, agent: str, **changes: Any) -> AgentState:
        """Change an agent's name, instructions, model or window."""
        return self._run(self.service.update_agent(agent, **changes))

    def get_message(self, agent: str, message_id: str) -> Message:
        """One message of recall memory by id."""
        return self._run(self.service.get_message(agent, message_id))

    def delete_agent(self, agent: str) -> None:
        """Delete an agent and all it owns."""
        self._run(self.service.delete_agent(agent))

    def send_message(self, agent: str, text: str) -> SendResult:
        """Send a user message; returns every step."""
        return self._run(self.service.send_message(agent, text))

    def list_messages(self, agent: str, **options: Any) -> list[Message]:
        """Recall memory in order."""
        return self._run(self.service.list_messages(agent, **options))

    def search_messages(
        self, agent: str, query: str | None = None, *,
        start: datetime | None = None, end: datetime | None = None, limit: int = 10, offset: int = 0,
    ) -> Page[Message]:
        """Search recall memory."""
        return self._run(
            self.service.search_messages(agent, query, start=start, end=end, limit=limit, offset=offset)
        )

    def list_blocks(self, agent: str) -> list[Block]:
        """Core memory blocks."""
        return self._run(self.service.list_blocks(agent))

    def get_block(self, agent: str, label: str) -> Block:
        """One block."""
        return self._run(self.service.get_block(agent, label))

    def update_block(self, agent: str, label: str, **changes: Any) -> Block:
        """Change a block's value, limit, description or read_only flag."""
        return self._run(self.service.update_block(agent, label, **changes))

    def insert_passage(self, agent: str, text: str, tags: list[str] | None = None) -> Passage:
        """Add a passage to archival memory."""
        return self._run(self.service.insert_passage(agent, text, tags))

    def list_passages(self, agent: str, *, limit: int = 50, offset: int = 0) -> list[Passage]:
        """Archival passages, newest first."""
        return self._run(self.service.list_passages(agent, limit=limit, offset=offset))

    def search_passages(self, agent: str, query: str, *, limit: int = 10) -> list[Passage]:
        """Search archival memory."""
        return self._run(self.service.search_passages(agent, query, limit=limit))

    def delete_passage(self, agent: str, passage_id: str) -> None:
        """Delete a passage."""
        self._run(self.service.delete_passage(agent, passage_id))

    def context_window(self, agent: str) -> ContextReport:
        """Tokens per section of the context window."""
        return self._run(self.service.context_window(agent))

    def create_tool(self, source_code: str, **options: Any) -> ToolDef:
        """A custom tool from Python source (options as AgentService.create_tool)."""
        return self._run(self.service.create_tool(source_code, **options))

    def upsert_tool(self, source_code: str, **options: Any) -> ToolDef:
        """Create a custom tool or replace yours of the same name."""
        return self._run(self.service.upsert_tool(source_code, **options))

    def list_tools(self) -> list[ToolDef]:
        """The base tools, then your custom tools."""
        return self._run(self.service.list_tools())

    def get_tool(self, tool: str) -> ToolDef:
        """A tool by id or name."""
        return self._run(self.service.get_tool(tool))

    def update_tool(self, tool: str, **changes: Any) -> ToolDef:
        """Change a custom tool's source, description, tags or return limit."""
        return self._run(self.service.update_tool(tool, **changes))

    def delete_tool(self, tool: str) -> None:
        """Delete a custom tool."""
        self._run(self.service.delete_tool(tool))

    def list_agent_tools(self, agent: str) -> list[ToolDef]:
        """The tools the agent's model is offered."""
        return self._run(self.service.list_agent_tools(agent))

    def attach_tool(self, agent: str, tool: str) -> AgentState:
        """Give the agent a custom tool."""
        return self._run(self.service.attach_tool(agent, tool))

    def detach_tool(self, agent: str, tool: str) -> AgentState:
        """Take a custom tool from the agent."""
        return self._run(self.service.detach_tool(agent, tool))

    def export_agent(self, agent: str, *, messages: bool = True, passages: bool = True) -> dict[str, Any]:
        """The agent as an agent file (a JSON-ready dict)."""
        return self._run(self.service.export_agent(agent, messages=messages, passages=passages))

    def import_agent(self, data: dict[str, Any], **options: Any) -> AgentState:
        """A new agent from an agent file (options as AgentService.import_agent)."""
        return self._run(self.service.import_agent(data, **options))
