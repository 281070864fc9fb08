"""The Letta REST shapes (as the ``letta-client`` v1 SDK reads them) of agents, blocks, tools,
passages, models and requests, mapped from our schemas; the message shapes are in
``letta_messages`` and re-exported here, so routes use one namespace."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from memgpt.embeddings.base import Embedder
from memgpt.formats.letta_messages import (  # re-exported: one Letta namespace for routes
    LETTA_NS as LETTA_NS,
    ApprovalRequestMessage as ApprovalRequestMessage,
    AssistantMessage as AssistantMessage,
    AssistantSearchResult as AssistantSearchResult,
    LettaErrorMessage as LettaErrorMessage,
    LettaMessage as LettaMessage,
    LettaPing as LettaPing,
    LettaResponse as LettaResponse,
    LettaStopReason as LettaStopReason,
    LettaUsageStatistics as LettaUsageStatistics,
    MessageSearchResult as MessageSearchResult,
    ReasoningMessage as ReasoningMessage,
    ReasoningSearchResult as ReasoningSearchResult,
    SEND_MESSAGE as SEND_MESSAGE,
    SEND_MESSAGE_KWARG as SEND_MESSAGE_KWARG,
    STOP_REASONS as STOP_REASONS,
    SystemMessage as SystemMessage,
    SystemSearchResult as SystemSearchResult,
    ToolCall as ToolCall,
    ToolCallDelta as ToolCallDelta,
    ToolCallMessage as ToolCallMessage,
    ToolReturn as ToolReturn,
    ToolReturnMessage as ToolReturnMessage,
    UserMessage as UserMessage,
    UserSearchResult as UserSearchResult,
    letta_response as letta_response,
    message_to_letta as message_to_letta,
    messages_to_letta as messages_to_letta,
    search_result as search_result,
    sent_text as sent_text,
    stop_reason as stop_reason,
    usage_statistics as usage_statistics,
)
from memgpt.formats.letta_tools import ApprovalCreate, tool_rules_out
from memgpt.llm.providers import PROVIDERS, known_context_window
from memgpt.memory.blocks import StoredBlock
from memgpt.memory.stores import Identity as MemIdentity, IdentityProperty
from memgpt.tools.mcp import McpTool
from memgpt.core.schemas import (
    AgentState as MemAgentState,
    Block as MemBlock,
    Passage as MemPassage,
    ToolDef,
    stable_id,
)


MessageType = Literal[
    "system_message", "user_message", "assistant_message", "reasoning_message",
    "hidden_reasoning_message", "tool_call_message", "tool_return_message",
    "approval_request_message", "approval_response_message", "summary_message", "event_message",
]


def block_id(agent_id: str, label: str) -> str:
    """The Letta-style id of an agent's block."""
    return stable_id("block", agent_id, label)


def tool_id(name: str) -> str:
    """The Letta-style id of a tool."""
    return stable_id("tool", name)


# --- blocks, tools, passages ---------------------------------------------------------------------
class Block(BaseModel):
    """A core memory block."""

    id: str
    label: str
    value: str
    limit: int
    description: str | None = None
    read_only: bool = False
    metadata: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    is_template: bool = False
    hidden: bool | None = None


def block_out(agent_id: str | None, b: MemBlock) -> Block:
    """Our block in Letta's shape (its stored id; else the agent's label-derived one)."""
    stored_id = b.id if isinstance(b, StoredBlock) else ""
    return Block(
        id=stored_id or block_id(agent_id or "", b.label), label=b.label, value=b.value, limit=b.limit,
        description=b.description or None, read_only=b.read_only,
        metadata={"updated_at": b.updated_at.isoformat()},
    )


class Tool(BaseModel):
    """A tool the agents can call."""

    id: str
    name: str
    description: str | None = None
    tool_type: str = "letta_core"
    source_type: str = "python"
    tags: list[str] = Field(default_factory=list)
    json_schema: dict[str, Any] = Field(default_factory=dict)
    args_json_schema: dict[str, Any] | None = None
    return_char_limit: int | None = None
    source_code: str | None = None
    default_requires_approval: bool | None = None
    metadata_: dict[str, Any] | None = None


_MEMORY_TOOLS = {"core_memory_append", "core_memory_replace"}


def tool_out(tool: ToolDef) -> Tool:
    """A base or custom tool in Letta's shape."""
    spec = tool.spec
    json_schema = {"name": spec.name, "description": spec.description, "parameters": spec.parameters}
    if isinstance(tool, McpTool):
        return Tool(id=tool.id, name=tool.name, description=spec.description, tool_type="external_mcp",
                    tags=tool.tags, json_schema=json_schema, return_char_limit=tool.return_char_limit,
                    metadata_={"mcp": {"server_name": tool.server_name, "server_id": tool.server_id}})
    if tool.builtin:
        return Tool(
            id=tool.id, name=tool.name, description=spec.description,
            tool_type="letta_memory_core" if tool.name in _MEMORY_TOOLS else "letta_core",
            tags=["base", "memgpt"], json_schema=json_schema,
        )
    return Tool(
        id=tool.id, name=tool.name, description=spec.description, tool_type="custom",
        tags=tool.tags, json_schema=json_schema, source_code=tool.source_code,
        return_char_limit=tool.return_char_limit, default_requires_approval=tool.default_requires_approval,
    )


class EmbeddingConfig(BaseModel):
    """The embedding model in Letta's shape."""

    embedding_endpoint_type: str
    embedding_model: str
    embedding_dim: int
    handle: str | None = None
    embedding_chunk_size: int | None = None


_EMBED_TYPES = {"openai": "openai", "ollama": "ollama"}


def embedding_config(embedder: Embedder) -> EmbeddingConfig:
    """The service's embedder as an EmbeddingConfig."""
    provider = embedder.name.partition("/")[0]
    return EmbeddingConfig(
        embedding_endpoint_type=_EMBED_TYPES.get(provider, "hugging-face"),
        embedding_model=embedder.name, embedding_dim=embedder.dim, handle=embedder.name,
    )


class EmbeddingModel(BaseModel):
    """An embedding model in Letta's /v1/models/embedding shape."""

    model_config = ConfigDict(protected_namespaces=())

    name: str
    display_name: str
    handle: str
    embedding_endpoint_type: str
    embedding_model: str
    embedding_dim: int
    provider_name: str
    provider_type: str
    model_type: Literal["embedding"] = "embedding"


def embedding_model(embedder: Embedder) -> EmbeddingModel:
    """The service's embedder as a listed embedding model."""
    cfg = embedding_config(embedder)
    return EmbeddingModel(
        name=embedder.name, display_name=embedder.name, handle=embedder.name,
        embedding_endpoint_type=cfg.embedding_endpoint_type, embedding_model=embedder.name,
        embedding_dim=embedder.dim, provider_name="memgpt",
        provider_type="openai" if cfg.embedding_endpoint_type == "openai" else "letta",
    )


class Passage(BaseModel):
    """An archival memory passage."""

    id: str
    text: str
    tags: list[str] = Field(default_factory=list)
    created_at: datetime
    agent_id: str | None = None
    embedding: list[float] | None = None
    embedding_config: EmbeddingConfig | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


def passage_out(p: MemPassage, embedder: Embedder | None = None) -> Passage:
    """Our passage in Letta's shape (vectors are not returned)."""
    cfg = embedding_config(embedder) if embedder is not None and embedder.name == p.embedding_model else None
    return Passage(id=p.id, text=p.text, tags=p.tags, created_at=p.created_at, agent_id=p.agent_id,
                   embedding_config=cfg, metadata={"embedding_model": p.embedding_model})


class PassageSearchHit(BaseModel):
    """One archival search hit."""

    id: str
    content: str
    timestamp: str
    tags: list[str] = Field(default_factory=list)


class PassageSearchResponse(BaseModel):
    """Archival search results."""

    count: int
    results: list[PassageSearchHit]


def passage_hit(p: MemPassage) -> PassageSearchHit:
    """One archival hit in Letta's search shape."""
    return PassageSearchHit(id=p.id, content=p.text, timestamp=p.created_at.isoformat(), tags=p.tags)


# --- models and agents ---------------------------------------------------------------------------
_ENDPOINT_TYPES = {
    "openai": "openai", "anthropic": "anthropic", "ollama": "ollama", "vllm": "vllm",
    "llamacpp": "llamacpp", "lmstudio": "lmstudio", "openrouter": "openrouter", "groq": "groq",
}
_PROVIDER_TYPES = {
    "openai": "openai", "anthropic": "anthropic", "ollama": "ollama", "vllm": "vllm",
    "lmstudio": "lmstudio_openai", "openrouter": "openrouter", "groq": "groq",
}


def _provider(name: str) -> tuple[str, str, str | None]:
    """(provider, bare model, base url) of a model name; configured names have no provider."""
    spec, _, url = name.partition("@")
    provider, _, model = spec.partition("/")
    if provider in PROVIDERS and model:
        return provider, model, url or None
    return "", name, None


class LlmConfig(BaseModel):
    """An agent's model in Letta's (deprecated but required) llm_config shape."""

    model_config = ConfigDict(protected_namespaces=())

    model: str
    model_endpoint_type: str
    context_window: int
    handle: str
    model_endpoint: str | None = None
    max_tokens: int | None = None
    display_name: str | None = None
    provider_name: str | None = None


class ModelOut(BaseModel):
    """A model in Letta's /v1/models shape."""

    model_config = ConfigDict(protected_namespaces=())

    name: str
    handle: str
    display_name: str
    model: str
    model_endpoint_type: str
    model_endpoint: str | None = None
    provider_type: str
    provider_name: str
    context_window: int
    max_context_window: int
    model_type: Literal["llm"] = "llm"


def model_out(name: str, default_window: int, max_default_window: int) -> ModelOut:
    """A configured model name as a listed model."""
    provider, model, url = _provider(name)
    known = known_context_window(name)
    return ModelOut(
        name=name, handle=name, display_name=name, model=model,
        model_endpoint_type=_ENDPOINT_TYPES.get(provider, "openai"), model_endpoint=url,
        provider_type=_PROVIDER_TYPES.get(provider, "letta"), provider_name=provider or "memgpt",
        context_window=min(known, max_default_window) if known else default_window,
        max_context_window=known or default_window,
    )


class Identity(BaseModel):
    """An identity in Letta's shape."""

    id: str
    identifier_key: str
    name: str
    identity_type: Literal["org", "user", "other"]
    agent_ids: list[str]
    block_ids: list[str] = Field(default_factory=list)
    project_id: str | None = None
    properties: list[IdentityProperty] = Field(default_factory=list)


def identity_out(i: MemIdentity) -> Identity:
    """Our identity in Letta's shape (identities hold no blocks here)."""
    return Identity(id=i.id, identifier_key=i.identifier_key, name=i.name, identity_type=i.identity_type,
                    agent_ids=i.agent_ids, properties=i.properties)


class Memory(BaseModel):
    """The deprecated ``memory`` field: the agent's blocks again."""

    blocks: list[Block]
    agent_type: str = "memgpt_agent"


class AgentState(BaseModel):
    """An agent in Letta's shape."""

    id: str
    name: str
    agent_type: str = "memgpt_agent"
    system: str
    model: str
    embedding: str
    llm_config: LlmConfig
    embedding_config: EmbeddingConfig
    blocks: list[Block]
    memory: Memory
    tools: list[Tool]
    sources: list[Any] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    identity_ids: list[str] = Field(default_factory=list)
    identities: list[Identity] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    description: str | None = None
    created_at: datetime
    updated_at: datetime | None = None
    message_buffer_autoclear: bool = False
    tool_rules: list[dict[str, Any]] = Field(default_factory=list)


def agent_out(
    state: MemAgentState, blocks: list[MemBlock], tools: list[ToolDef], embedder: Embedder,
    tags: list[str] | None = None, identities: list[MemIdentity] | None = None,
) -> AgentState:
    """Our agent, its blocks, tools, tags and identities in Letta's shape."""
    provider, model, url = _provider(state.model)
    letta_blocks = [block_out(state.id, b) for b in blocks]
    return AgentState(
        id=state.id, name=state.name, system=state.instructions, model=state.model,
        embedding=state.embedding_model or embedder.name,
        llm_config=LlmConfig(
            model=model, model_endpoint_type=_ENDPOINT_TYPES.get(provider, "openai"),
            model_endpoint=url, context_window=state.context_window, handle=state.model,
            max_tokens=state.max_output_tokens, display_name=state.model,
            provider_name=provider or "memgpt",
        ),
        embedding_config=embedding_config(embedder),
        blocks=letta_blocks, memory=Memory(blocks=letta_blocks),
        tools=[tool_out(t) for t in tools], tags=tags or [],
        identity_ids=[i.id for i in identities or []], identities=[identity_out(i) for i in identities or []],
        metadata={"summarizer_model": state.summarizer_model} if state.summarizer_model else {},
        created_at=state.created_at, updated_at=state.last_memory_edit,
        tool_rules=tool_rules_out(state.tool_rules),
    )


# --- requests ------------------------------------------------------------------------------------
class _Request(BaseModel):
    """Request bodies ignore the many Letta fields we have no use for."""

    model_config = ConfigDict(extra="ignore", protected_namespaces=())


class CreateBlock(_Request):
    """A block in an agent-create request."""

    label: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")
    value: str = ""
    limit: int | None = Field(default=None, ge=1)
    description: str | None = None
    read_only: bool = False


class LlmConfigIn(_Request):
    """The deprecated llm_config some Letta clients still send."""

    model: str
    model_endpoint_type: str | None = None
    model_endpoint: str | None = None
    context_window: int | None = Field(default=None, ge=512)
    handle: str | None = None
    max_tokens: int | None = Field(default=None, ge=1)


class CreateAgentRequest(_Request):
    """POST /v1/agents/."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    system: str | None = None
    model: str | None = None
    embedding: str | None = None
    memory_blocks: list[CreateBlock] | None = None
    tools: list[str] | None = None
    tool_ids: list[str] | None = None
    block_ids: list[str] | None = None
    context_window_limit: int | None = Field(default=None, ge=512)
    max_tokens: int | None = Field(default=None, ge=1)
    llm_config: LlmConfigIn | None = None
    description: str | None = None
    tags: list[str] | None = None
    identity_ids: list[str] | None = None
    include_base_tools: bool = True
    tool_rules: list[dict[str, Any]] | None = None


class UpdateAgentRequest(_Request):
    """PATCH /v1/agents/{agent_id}."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    system: str | None = None
    model: str | None = None
    context_window_limit: int | None = Field(default=None, ge=512)
    max_tokens: int | None = Field(default=None, ge=1)
    tool_ids: list[str] | None = None
    block_ids: list[str] | None = None
    llm_config: LlmConfigIn | None = None
    tags: list[str] | None = None
    identity_ids: list[str] | None = None
    tool_rules: list[dict[str, Any]] | None = None


class CreateBlockRequest(CreateBlock):
    """POST /v1/blocks/ (template, project and metadata fields are ignored)."""


class ModifyBlockRequest(_Request):
    """PATCH /v1/blocks/{block_id}."""

    label: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")
    value: str | None = None
    limit: int | None = Field(default=None, ge=1)
    description: str | None = None
    read_only: bool | None = None


class UpdateBlockRequest(_Request):
    """PATCH /v1/agents/{agent_id}/core-memory/blocks/{label}."""

    value: str | None = None
    limit: int | None = Field(default=None, ge=1)
    description: str | None = None
    read_only: bool | None = None
    label: str | None = None


class TextContent(_Request):
    """A text content part."""

    type: Literal["text"] = "text"
    text: str


class ContentPart(_Request):
    """Any content part; only text is supported."""

    type: str
    text: str | None = None


class MessageCreate(_Request):
    """One input message."""

    role: Literal["user", "system", "assistant"] = "user"
    content: str | list[ContentPart]
    type: Literal["message"] | None = None


class SendMessageRequest(_Request):
    """POST /v1/agents/{agent_id}/messages[/stream]."""

    messages: list[ApprovalCreate | MessageCreate] | None = None
    input: str | list[ContentPart] | None = None
    streaming: bool = False
    stream_tokens: bool = False
    include_pings: bool = False
    use_assistant_message: bool = True
    include_return_message_types: list[MessageType] | None = None
    max_steps: int | None = Field(default=None, ge=1)
    background: bool = False
    override_model: str | None = None
    override_system: str | None = None
    client_tools: list[dict[str, Any]] | None = None
    return_logprobs: bool = False
    return_token_ids: bool = False


class CreatePassageRequest(_Request):
    """POST /v1/agents/{agent_id}/archival-memory."""

    text: str
    tags: list[str] | None = None
    created_at: datetime | None = None


class MessageSearchRequest(_Request):
    """POST /v1/messages/search (recall search with date filters)."""

    query: str | None = None
    agent_id: str | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    limit: int = Field(default=50, ge=1, le=1000)
    search_mode: Literal["vector", "fts", "hybrid"] | None = None
    conversation_id: str | None = None
