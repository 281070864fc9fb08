"""memgpt's own JSON routes under /memgpt/v1, returning our schemas exactly.

``memgpt.Client`` uses these: the Letta shapes drop what Letta has no place for (steps and
their usage, heartbeats and stop reasons, event messages, message seq numbers, block
timestamps, an agent's summary and window state), so a client that must return the same
``SendResult``/``Message``/``AgentState`` as ``memgpt.MemGPT`` cannot go through them.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from memgpt.core.schemas import AgentState, Block, ContextReport, Message, Passage, SendResult
from memgpt.server import streaming
from memgpt.server.deps import Service
from memgpt.server.disconnect import unless_disconnected

router = APIRouter(prefix="/memgpt/v1", tags=["memgpt"])


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateAgent(_Body):
    """Arguments of AgentService.create_agent."""

    name: str = Field(min_length=1, max_length=200)
    model: str
    persona: str | None = None
    human: str | None = None
    blocks: list[Block] | None = None
    instructions: str | None = None
    context_window: int | None = Field(default=None, ge=512)
    summarizer_model: str | None = None
    max_output_tokens: int | None = Field(default=None, ge=1)
    tools: list[str] | None = None
    block_ids: list[str] | None = None


class UpdateAgent(_Body):
    """Arguments of AgentService.update_agent."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    instructions: str | None = None
    model: str | None = None
    context_window: int | None = Field(default=None, ge=512)
    max_output_tokens: int | None = Field(default=None, ge=1)


class SendText(_Body):
    """A user message or a system event, and at most how many steps its turn may take."""

    text: str
    max_steps: int | None = Field(default=None, ge=1)


class UpdateBlock(_Body):
    """Changes to a block."""

    value: str | None = None
    limit: int | None = Field(default=None, ge=1)
    description: str | None = None
    read_only: bool | None = None


class InsertPassages(_Body):
    """Passages to add (``text`` for one, ``texts`` for a batch)."""

    text: str | None = None
    texts: list[str] | None = None
    tags: list[str] | None = None


class MessagePage(BaseModel):
    """One page of recall search results and the total number of matches."""

    items: list[Message]
    total: int


@router.post("/agents", response_model=AgentState, status_code=201)
async def create_agent(body: CreateAgent, service: Service) -> AgentState:
    """Create an agent."""
    options = {k: getattr(body, k) for k in CreateAgent.model_fields if getattr(body, k) is not None}
    return await service.create_agent(**options)


@router.get("/models", response_model=list[str])
async def model_names(service: Service) -> list[str]:
    """Names of the configured models (and the default model, if set)."""
    return service.model_names()


@router.get("/agents", response_model=list[AgentState])
async def list_agents(service: Service) -> list[AgentState]:
    """Every agent, oldest first."""
    return await service.list_agents()


@router.get("/agents/{agent}", response_model=AgentState)
async def get_agent(agent: str, service: Service) -> AgentState:
    """An agent by id or name."""
    return await service.get_agent(agent)


@router.patch("/agents/{agent}", response_model=AgentState)
async def update_agent(agent: str, body: UpdateAgent, service: Service) -> AgentState:
    """Change an agent's name, instructions, model or window."""
    return await service.update_agent(agent, **body.model_dump())


@router.delete("/agents/{agent}", status_code=204)
async def delete_agent(agent: str, service: Service) -> Response:
    """Delete an agent and all it owns."""
    await service.delete_agent(agent)
    return Response(status_code=204)


@router.post("/agents/{agent}/messages", response_model=SendResult)
async def send_message(agent: str, body: SendText, service: Service, request: Request) -> SendResult | Response:
    """Send a user message; every step comes back. A client that disconnects cancels the
    turn (its input and finished steps stay)."""
    return await unless_disconnected(request, service.send_message(agent, body.text, max_steps=body.max_steps))


@router.post("/agents/{agent}/messages/stream", response_class=StreamingResponse)
async def stream_message(agent: str, body: SendText, service: Service) -> StreamingResponse:
    """Send a user message and stream the loop's events as Server-Sent Events: each is
    ``event: <type>`` (delta, message, memory, step, run) with the event's JSON as data."""
    send = functools.partial(service.send_message, max_steps=body.max_steps)
    task, queue, first = await streaming.start(send, agent, body.text)
    return streaming.response(streaming.native_body(task, queue, first), task=task)


@router.post("/agents/{agent}/events", response_model=SendResult)
async def send_event(agent: str, body: SendText, service: Service, request: Request) -> SendResult | Response:
    """Wake the agent with a system event (a client that disconnects cancels the turn)."""
    return await unless_disconnected(request, service.send_event(agent, body.text, max_steps=body.max_steps))


@router.get("/agents/{agent}/messages", response_model=list[Message])
async def list_messages(
    agent: str,
    service: Service,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    before: int | None = None,
    after: int | None = None,
) -> list[Message]:
    """Recall memory in order; page with a message's ``seq`` as before/after."""
    return await service.list_messages(agent, limit=limit, before=before, after=after)


@router.get("/agents/{agent}/messages/search", response_model=MessagePage)
async def search_messages(
    agent: str,
    service: Service,
    query: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 10,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> MessagePage:
    """Search recall memory by words and/or a [start, end) date range."""
    found = await service.search_messages(agent, query or None, start=start, end=end, limit=limit, offset=offset)
    return MessagePage(items=found.items, total=found.total)


@router.get("/agents/{agent}/blocks", response_model=list[Block])
async def list_blocks(agent: str, service: Service) -> list[Block]:
    """Core memory blocks."""
    return await service.list_blocks(agent)


@router.get("/agents/{agent}/blocks/{label}", response_model=Block)
async def get_block(agent: str, label: str, service: Service) -> Block:
    """One block."""
    return await service.get_block(agent, label)


@router.patch("/agents/{agent}/blocks/{label}", response_model=Block)
async def update_block(agent: str, label: str, body: UpdateBlock, service: Service) -> Block:
    """Change a block."""
    changes = {k: getattr(body, k) for k in UpdateBlock.model_fields if getattr(body, k) is not None}
    return await service.update_block(agent, label, **changes)


@router.post("/agents/{agent}/passages", response_model=list[Passage], status_code=201)
async def insert_passages(agent: str, body: InsertPassages, service: Service) -> list[Passage]:
    """Add passages to archival memory."""
    texts = ([body.text] if body.text is not None else []) + (body.texts or [])
    return await service.insert_passages(agent, texts, body.tags)


@router.get("/agents/{agent}/passages", response_model=list[Passage])
async def list_passages(
    agent: str,
    service: Service,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[Passage]:
    """Archival passages, newest first."""
    return await service.list_passages(agent, limit=limit, offset=offset)


@router.get("/agents/{agent}/passages/search", response_model=list[Passage])
async def search_passages(
    agent: str,
    service: Service,
    query: str,
    limit: Annotated[int, Query(ge=1, le=1000)] = 10,
    tags: Annotated[list[str] | None, Query()] = None,
    match_all_tags: bool = False,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[Passage]:
    """Search archival memory; with ``tags`` (repeat the parameter; any of them, or all with
    ``match_all_tags``) and/or a [start, end) date range, only matching passages."""
    return await service.search_passages(
        agent, query, limit=limit, tags=tags, match_all_tags=match_all_tags, start=start, end=end
    )


@router.delete("/agents/{agent}/passages/{passage_id}", status_code=204)
async def delete_passage(agent: str, passage_id: str, service: Service) -> Response:
    """Delete a passage."""
    await service.delete_passage(agent, passage_id)
    return Response(status_code=204)


@router.get("/agents/{agent}/context", response_model=ContextReport)
async def context_window(agent: str, service: Service) -> ContextReport:
    """Tokens per section of the context window."""
    return await service.context_window(agent)


@router.get("/agents/{agent}/messages/{message_id}", response_model=Message)
async def get_message(agent: str, message_id: str, service: Service) -> Message:
    """One message of recall memory by id."""
    return await service.get_message(agent, message_id)
