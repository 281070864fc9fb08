"""Tool control for ``memgpt.MemGPT`` (``LocalToolControl``) and ``memgpt.Client``
(``ClientToolControl``): run a tool now, approve or deny held calls, set tool rules, search
tools. The AgentService methods of ``memgpt.services.tools`` and ``send_approval``, blocking."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from memgpt.core.schemas import AgentState, SendResult, ToolRule
from memgpt.core.tool_control import Decision, ToolRun, ToolSearchHit

if TYPE_CHECKING:
    from memgpt.services.service import AgentService

T = TypeVar("T")


def _q(part: str) -> str:
    return quote(part, safe="")


class LocalToolControl:
    """Tool control on the local service (MemGPT mixes this in)."""

    service: AgentService

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        raise NotImplementedError

    def run_tool(self, agent: str, tool_name: str, args: dict[str, Any]) -> ToolRun:
        """Run one of the agent's tools now, outside a turn (its memory edits are saved)."""
        return self._run(self.service.run_tool(agent, tool_name, args))

    def send_approval(
        self, agent: str, decisions: list[Decision], *, request_id: str | None = None, max_steps: int | None = None,
    ) -> SendResult:
        """Approve or deny the agent's held calls (``Decision(approve=True)`` answers all of
        them): approved ones run, denied ones tell the model why, and the turn goes on."""
        return self._run(self.service.send_approval(agent, decisions, request_id=request_id, max_steps=max_steps))

    def set_tool_rules(self, agent: str, rules: list[ToolRule]) -> AgentState:
        """Replace the agent's tool rules."""
        return self._run(self.service.set_tool_rules(agent, rules))

    def set_tool_approval(self, agent: str, tool_name: str, requires_approval: bool = True) -> AgentState:
        """Whether the agent's calls of a tool wait for approval."""
        return self._run(self.service.set_tool_approval(agent, tool_name, requires_approval))

    def search_tools(
        self, query: str | None, *, tags: list[str] | None = None, limit: int = 50
    ) -> list[ToolSearchHit]:
        """Your tools best matching the query."""
        return self._run(self.service.search_tools(query, tags=tags, limit=limit))


class ClientToolControl:
    """Tool control over HTTP (Client mixes this in)."""

    def _get(self, kind: type[T] | Any, method: str, path: str, **kwargs: Any) -> T:
        raise NotImplementedError

    def run_tool(self, agent: str, tool_name: str, args: dict[str, Any]) -> ToolRun:
        """Run one of the agent's tools now, outside a turn (its memory edits are saved)."""
        return self._get(ToolRun, "POST", f"/agents/{_q(agent)}/tools/{_q(tool_name)}/run", json={"args": args})

    def send_approval(
        self, agent: str, decisions: list[Decision], *, request_id: str | None = None, max_steps: int | None = None,
    ) -> SendResult:
        """Approve or deny the agent's held calls (``Decision(approve=True)`` answers all of
        them): approved ones run, denied ones tell the model why, and the turn goes on."""
        body = {"decisions": [d.model_dump() for d in decisions], "request_id": request_id, "max_steps": max_steps}
        return self._get(SendResult, "POST", f"/agents/{_q(agent)}/approvals", json=body)

    def set_tool_rules(self, agent: str, rules: list[ToolRule]) -> AgentState:
        """Replace the agent's tool rules."""
        body = {"rules": [r.model_dump(exclude_none=True) for r in rules]}
        return self._get(AgentState, "PUT", f"/agents/{_q(agent)}/tool-rules", json=body)

    def set_tool_approval(self, agent: str, tool_name: str, requires_approval: bool = True) -> AgentState:
        """Whether the agent's calls of a tool wait for approval."""
        return self._get(AgentState, "PUT", f"/agents/{_q(agent)}/tools/{_q(tool_name)}/approval",
                         json={"requires_approval": requires_approval})

    def search_tools(
        self, query: str | None, *, tags: list[str] | None = None, limit: int = 50
    ) -> list[ToolSearchHit]:
        """Your tools best matching the query."""
        return self._get(list[ToolSearchHit], "POST", "/tools/search",
                         json={"query": query, "tags": tags, "limit": limit})
