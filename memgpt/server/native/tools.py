"""memgpt's own routes for custom tools, tool control (run, approvals, rules, search) and agent
files under /memgpt/v1 (``memgpt.Client``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from memgpt.core.schemas import AgentState, SendResult, ToolDef, ToolRule
from memgpt.core.tool_control import Decision, ToolRun, ToolSearchHit
from memgpt.server.deps import Service

router = APIRouter(prefix="/memgpt/v1", tags=["memgpt"])


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateTool(_Body):
    """Arguments of AgentService.create_tool / upsert_tool."""

    source_code: str
    function: str | None = None
    description: str | None = None
    tags: list[str] | None = None
    return_char_limit: int | None = Field(default=None, ge=1, le=1_000_000)
    default_requires_approval: bool | None = None


class UpdateTool(_Body):
    """Arguments of AgentService.update_tool."""

    source_code: str | None = None
    description: str | None = None
    tags: list[str] | None = None
    return_char_limit: int | None = Field(default=None, ge=1, le=1_000_000)
    default_requires_approval: bool | None = None


class SetAgentTools(_Body):
    """Arguments of AgentService.set_agent_tools: the custom tools (ids or names) to keep."""

    tools: list[str]


class ImportAgent(_Body):
    """Arguments of AgentService.import_agent, with the agent file as ``file``."""

    file: dict[str, Any]
    name: str | None = Field(default=None, min_length=1, max_length=200)
    model: str | None = None
    strip_messages: bool = False
    replace_tools: bool = True
    copy_suffix: bool = False


@router.post("/tools", response_model=ToolDef, status_code=201)
async def create_tool(body: CreateTool, service: Service) -> ToolDef:
    """A custom tool from Python source."""
    return await service.create_tool(**body.model_dump())


@router.put("/tools", response_model=ToolDef)
async def upsert_tool(body: CreateTool, service: Service) -> ToolDef:
    """Create a custom tool or replace the caller's tool of the same name."""
    options = body.model_dump()
    return await service.upsert_tool(options.pop("source_code"), **options)


@router.get("/tools", response_model=list[ToolDef])
async def list_tools(service: Service) -> list[ToolDef]:
    """The base tools, then the caller's custom tools."""
    return await service.list_tools()


@router.get("/tools/{tool}", response_model=ToolDef)
async def get_tool(tool: str, service: Service) -> ToolDef:
    """A tool by id or name."""
    return await service.get_tool(tool)


@router.patch("/tools/{tool}", response_model=ToolDef)
async def update_tool(tool: str, body: UpdateTool, service: Service) -> ToolDef:
    """Change a custom tool."""
    return await service.update_tool(tool, **body.model_dump())


@router.delete("/tools/{tool}", status_code=204)
async def delete_tool(tool: str, service: Service) -> Response:
    """Delete a custom tool."""
    await service.delete_tool(tool)
    return Response(status_code=204)


@router.get("/agents/{agent}/tools", response_model=list[ToolDef])
async def list_agent_tools(agent: str, service: Service) -> list[ToolDef]:
    """The tools the agent's model is offered."""
    return await service.list_agent_tools(agent)


@router.put("/agents/{agent}/tools", response_model=AgentState)
async def set_agent_tools(agent: str, body: SetAgentTools, service: Service) -> AgentState:
    """Make the agent's custom tools exactly those named (base tools stay regardless)."""
    return await service.set_agent_tools(agent, body.tools)


@router.put("/agents/{agent}/tools/{tool}", response_model=AgentState)
async def attach_tool(agent: str, tool: str, service: Service) -> AgentState:
    """Attach a custom tool to the agent."""
    return await service.attach_tool(agent, tool)


@router.delete("/agents/{agent}/tools/{tool}", response_model=AgentState)
async def detach_tool(agent: str, tool: str, service: Service) -> AgentState:
    """Detach a custom tool from the agent."""
    return await service.detach_tool(agent, tool)


@router.get("/agents/{agent}/export", response_model=dict[str, Any])
async def export_agent(
    agent: str, service: Service, messages: bool = True, passages: bool = True
) -> dict[str, Any]:
    """The agent as an agent file."""
    return await service.export_agent(agent, messages=messages, passages=passages)


@router.post("/agents/import", response_model=AgentState, status_code=201)
async def import_agent(body: ImportAgent, service: Service) -> AgentState:
    """A new agent from an agent file."""
    options = body.model_dump(exclude={"file"})
    return await service.import_agent(body.file, **options)


# --- tool control: run a tool, approvals, tool rules, search ---------------------------------
class RunTool(_Body):
    """Arguments of AgentService.run_tool."""

    args: dict[str, Any] = Field(default_factory=dict)


class SetToolRules(_Body):
    """Arguments of AgentService.set_tool_rules: the agent's rules, replacing its old ones."""

    rules: list[ToolRule]


class SetApproval(_Body):
    """Arguments of AgentService.set_tool_approval."""

    requires_approval: bool = True


class Approve(_Body):
    """Arguments of AgentService.send_approval: one decision per pending call (or one with
    no ``call_id`` for all of them) and, optionally, the approval request's message id."""

    decisions: list[Decision] = Field(min_length=1)
    request_id: str | None = None
    max_steps: int | None = Field(default=None, ge=1)


class SearchTools(_Body):
    """Arguments of AgentService.search_tools."""

    query: str | None = None
    tags: list[str] | None = None
    limit: int = Field(default=50, ge=1, le=1000)


@router.post("/agents/{agent}/tools/{tool_name}/run", response_model=ToolRun)
async def run_tool(agent: str, tool_name: str, body: RunTool, service: Service) -> ToolRun:
    """Run one of the agent's tools now (outside a turn; its memory edits commit as one unit)."""
    return await service.run_tool(agent, tool_name, body.args)


@router.put("/agents/{agent}/tool-rules", response_model=AgentState)
async def set_tool_rules(agent: str, body: SetToolRules, service: Service) -> AgentState:
    """Replace the agent's tool rules."""
    return await service.set_tool_rules(agent, body.rules)


@router.put("/agents/{agent}/tools/{tool_name}/approval", response_model=AgentState)
async def set_tool_approval(agent: str, tool_name: str, body: SetApproval, service: Service) -> AgentState:
    """Whether the agent's calls of the tool wait for approval."""
    return await service.set_tool_approval(agent, tool_name, body.requires_approval)


@router.post("/agents/{agent}/approvals", response_model=SendResult)
async def send_approval(agent: str, body: Approve, service: Service) -> SendResult:
    """Approve or deny the calls waiting for approval; the agent's turn goes on."""
    return await service.send_approval(agent, body.decisions, request_id=body.request_id, max_steps=body.max_steps)


@router.post("/tools/search", response_model=list[ToolSearchHit])
async def search_tools(body: SearchTools, service: Service) -> list[ToolSearchHit]:
    """The caller's tools best matching the query (a plain score over name, tags, description)."""
    return await service.search_tools(body.query, tags=body.tags, limit=body.limit)
