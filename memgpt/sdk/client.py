"""Client: memgpt over HTTP, with the methods and return types of ``memgpt.MemGPT``.

It talks to a ``memgpt server``'s own routes (``/memgpt/v1/...``), which return memgpt's
schemas exactly, and raises the same exceptions (``NotFoundError``, ``AlreadyExistsError``,
``InvalidRequestError``, ``ModelNotFoundError``, ``ModelError``, ...) as the local API.
"""

from __future__ import annotations

from datetime import datetime
from types import TracebackType
from typing import IO, Any, Literal, Self, TypeVar
from urllib.parse import quote

import httpx
from pydantic import TypeAdapter

from memgpt.core import errors
from memgpt.memory.blocks import StoredBlock
from memgpt.memory.stores import Identity, IdentityProperty, Page
from memgpt.sdk.archives import ClientArchives
from memgpt.sdk.conversations import ClientConversations
from memgpt.sdk.folders import ClientFolders
from memgpt.sdk.mcp import ClientMcp
from memgpt.sdk.runs import ClientRuns
from memgpt.sdk.schedules import ClientSchedules
from memgpt.sdk.tool_control import ClientToolControl
from memgpt.core.schemas import AgentState, Block, ContextReport, Message, Passage, SendResult, ToolDef

T = TypeVar("T")
PREFIX = "/memgpt/v1"


class ServerConnectionError(errors.MemGPTError):
    """The server could not be reached, or its answer was not memgpt's."""


_BY_STATUS: dict[int, type[errors.MemGPTError]] = {
    400: errors.InvalidRequestError, 403: errors.FeatureDisabledError, 404: errors.NotFoundError,
    409: errors.AlreadyExistsError,
    413: errors.InvalidRequestError, 422: errors.InvalidRequestError, 502: errors.ModelError,
}


def _error(response: httpx.Response) -> errors.MemGPTError:
    """The memgpt exception for an error response: the class the server named, else by status."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    detail = body.get("detail") if isinstance(body, dict) else None
    kind = body.get("type") if isinstance(body, dict) else None
    message = detail if isinstance(detail, str) else f"HTTP {response.status_code}: {response.text[:200]}"
    named = getattr(errors, kind, None) if isinstance(kind, str) else None
    if isinstance(named, type) and issubclass(named, errors.MemGPTError):
        return named(message)
    return _BY_STATUS.get(response.status_code, errors.MemGPTError)(message)


def _q(part: str) -> str:
    return quote(part, safe="")


class Client(ClientArchives, ClientConversations, ClientFolders, ClientSchedules, ClientToolControl, ClientMcp, ClientRuns):
    """Blocking access to a memgpt server; same methods and results as ``memgpt.MemGPT``."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float = 300.0,
        http_client: httpx.Client | None = None,
    ) -> None:
        headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        self.base_url = base_url.rstrip("/")
        self._owned = http_client is None
        self._http = http_client or httpx.Client(timeout=timeout)
        self._headers = headers

    def close(self) -> None:
        """Close the connection pool (a client passed in is left open)."""
        if self._owned:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _call(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None) -> Any:
        query = {k: v.isoformat() if isinstance(v, datetime) else v
                 for k, v in (params or {}).items() if v is not None}
        try:
            response = self._http.request(
                method, f"{self.base_url}{PREFIX}{path}", json=json, params=query, headers=self._headers
            )
        except httpx.HTTPError as exc:
            raise ServerConnectionError(f"cannot reach memgpt server at {self.base_url}: {exc}") from exc
        if response.status_code >= 400:
            raise _error(response)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise ServerConnectionError(f"{self.base_url} answered with something other than JSON") from exc

    def _send_file(self, path: str, stream: IO[bytes], file_name: str, params: dict[str, Any]) -> Any:
        """POST a file as multipart (streamed from the open file, not read whole first)."""
        query = {k: v for k, v in params.items() if v is not None}
        try:
            response = self._http.post(f"{self.base_url}{PREFIX}{path}", params=query, headers=self._headers,
                                       files={"file": (file_name, stream)})
        except httpx.HTTPError as exc:
            raise ServerConnectionError(f"cannot reach memgpt server at {self.base_url}: {exc}") from exc
        if response.status_code >= 400:
            raise _error(response)
        return response.json()

    def _get(self, kind: type[T] | Any, method: str, path: str, **kwargs: Any) -> T:
        adapter: TypeAdapter[T] = TypeAdapter(kind)
        return adapter.validate_python(self._call(method, path, **kwargs))

    # --- agents ------------------------------------------------------------------------------
    def create_agent(
        self,
        name: str,
        *,
        model: str,
        persona: str | None = None,
        human: str | None = None,
        blocks: list[Block] | None = None,
        instructions: str | None = None,
        context_window: int | None = None,
        summarizer_model: str | None = None,
        max_output_tokens: int | None = None,
        tools: list[str] | None = None,
        block_ids: list[str] | None = None,
    ) -> AgentState:
        """Create an agent; blocks default to persona and human starters, ``tools`` names
        custom tools to attach, ``block_ids`` existing blocks to share with it."""
        body = _present(
            name=name, model=model, persona=persona, human=human,
            blocks=None if blocks is None else [_block_json(b) for b in blocks],
            instructions=instructions, context_window=context_window, summarizer_model=summarizer_model,
            max_output_tokens=max_output_tokens, tools=tools, block_ids=block_ids,
        )
        return self._get(AgentState, "POST", "/agents", json=body)

    def list_agents(self) -> list[AgentState]:
        """Every agent."""
        return self._get(list[AgentState], "GET", "/agents")

    def get_agent(self, agent: str) -> AgentState:
        """An agent by id or name."""
        return self._get(AgentState, "GET", f"/agents/{_q(agent)}")

    def update_agent(
        self,
        agent: str,
        *,
        name: str | None = None,
        instructions: str | None = None,
        model: str | None = None,
        context_window: int | None = None,
        max_output_tokens: int | None = None,
    ) -> AgentState:
        """Change an agent's name, instructions, model or window (None: unchanged)."""
        body = _present(name=name, instructions=instructions, model=model, context_window=context_window,
                        max_output_tokens=max_output_tokens)
        return self._get(AgentState, "PATCH", f"/agents/{_q(agent)}", json=body)

    def delete_agent(self, agent: str) -> None:
        """Delete an agent and all it owns."""
        self._call("DELETE", f"/agents/{_q(agent)}")

    def context_window(self, agent: str) -> ContextReport:
        """Tokens per section of the context window."""
        return self._get(ContextReport, "GET", f"/agents/{_q(agent)}/context")

    def model_names(self) -> list[str]:
        """Names of the models the server has configured (and its default model, if set)."""
        return self._get(list[str], "GET", "/models")

    # --- messages ----------------------------------------------------------------------------
    def send_message(self, agent: str, text: str, *, max_steps: int | None = None) -> SendResult:
        """Send a user message; returns every step (at most ``max_steps`` of them)."""
        return self._get(SendResult, "POST", f"/agents/{_q(agent)}/messages",
                         json={"text": text, "max_steps": max_steps})

    def send_event(self, agent: str, text: str, *, max_steps: int | None = None) -> SendResult:
        """Wake the agent with a system event (a timer, a webhook, a finished job)."""
        return self._get(SendResult, "POST", f"/agents/{_q(agent)}/events", json={"text": text, "max_steps": max_steps})

    def get_message(self, agent: str, message_id: str) -> Message:
        """One message of recall memory by id."""
        return self._get(Message, "GET", f"/agents/{_q(agent)}/messages/{_q(message_id)}")

    def list_messages(
        self, agent: str, *, limit: int = 50, before: int | None = None, after: int | None = None
    ) -> list[Message]:
        """Recall memory in order; page with a message's ``seq`` as before/after."""
        params = {"limit": limit, "before": before, "after": after}
        return self._get(list[Message], "GET", f"/agents/{_q(agent)}/messages", params=params)

    def search_messages(
        self, agent: str, query: str | None = None, *,
        start: datetime | None = None, end: datetime | None = None, limit: int = 10, offset: int = 0,
    ) -> Page[Message]:
        """Search recall memory by words and/or a [start, end) date range."""
        params = {"query": query, "start": start, "end": end, "limit": limit, "offset": offset}
        data = self._call("GET", f"/agents/{_q(agent)}/messages/search", params=params)
        return Page(TypeAdapter(list[Message]).validate_python(data["items"]), int(data["total"]))

    # --- core memory -------------------------------------------------------------------------
    def list_blocks(self, agent: str) -> list[Block]:
        """Core memory blocks."""
        return self._get(list[Block], "GET", f"/agents/{_q(agent)}/blocks")

    def get_block(self, agent: str, label: str) -> Block:
        """One block."""
        return self._get(Block, "GET", f"/agents/{_q(agent)}/blocks/{_q(label)}")

    def update_block(
        self,
        agent: str,
        label: str,
        *,
        value: str | None = None,
        limit: int | None = None,
        description: str | None = None,
        read_only: bool | None = None,
    ) -> Block:
        """Change a block's value, limit, description or read_only flag (None: unchanged)."""
        body = _present(value=value, limit=limit, description=description, read_only=read_only)
        return self._get(Block, "PATCH", f"/agents/{_q(agent)}/blocks/{_q(label)}", json=body)

    # --- shared blocks -----------------------------------------------------------------------
    def create_block(
        self, label: str, value: str = "", *, limit: int | None = None, description: str = "",
        read_only: bool = False,
    ) -> StoredBlock:
        """A new block, attached to no agent yet (attach it to as many agents as you like)."""
        body = _present(label=label, value=value, limit=limit, description=description, read_only=read_only)
        return self._get(StoredBlock, "POST", "/blocks", json=body)

    def retrieve_block(self, block_id: str) -> StoredBlock:
        """One block by id."""
        return self._get(StoredBlock, "GET", f"/blocks/{_q(block_id)}")

    def list_all_blocks(self, *, label: str | None = None, value_search: str | None = None) -> list[StoredBlock]:
        """Every block, oldest first; by label or by text in the value."""
        params = {"label": label, "value_search": value_search}
        return self._get(list[StoredBlock], "GET", "/blocks", params=params)

    def modify_block(
        self, block_id: str, *, label: str | None = None, value: str | None = None,
        limit: int | None = None, description: str | None = None, read_only: bool | None = None,
    ) -> StoredBlock:
        """Change a block; every agent it is attached to sees it in its next request."""
        body = _present(label=label, value=value, limit=limit, description=description, read_only=read_only)
        return self._get(StoredBlock, "PATCH", f"/blocks/{_q(block_id)}", json=body)

    def delete_block(self, block_id: str) -> None:
        """Delete a block, detaching it from every agent."""
        self._call("DELETE", f"/blocks/{_q(block_id)}")

    def block_agents(self, block_id: str) -> list[AgentState]:
        """The agents a block is attached to."""
        return self._get(list[AgentState], "GET", f"/blocks/{_q(block_id)}/agents")

    def attach_block(self, agent: str, block_id: str) -> AgentState:
        """Attach a block to an agent."""
        return self._get(AgentState, "PUT", f"/agents/{_q(agent)}/blocks/{_q(block_id)}")

    def detach_block(self, agent: str, block_id: str) -> AgentState:
        """Take a block from an agent; the block is kept."""
        return self._get(AgentState, "DELETE", f"/agents/{_q(agent)}/blocks/{_q(block_id)}")

    # --- archival memory ---------------------------------------------------------------------
    def insert_passage(self, agent: str, text: str, tags: list[str] | None = None) -> Passage:
        """Add a passage to archival memory."""
        body = {"text": text, "tags": tags}
        return self._get(list[Passage], "POST", f"/agents/{_q(agent)}/passages", json=body)[0]

    def insert_passages(self, agent: str, texts: list[str], tags: list[str] | None = None) -> list[Passage]:
        """Add passages to archival memory, embedded in one batch."""
        body = {"texts": texts, "tags": tags}
        return self._get(list[Passage], "POST", f"/agents/{_q(agent)}/passages", json=body)

    def list_passages(self, agent: str, *, limit: int = 50, offset: int = 0) -> list[Passage]:
        """Archival passages, newest first."""
        params = {"limit": limit, "offset": offset}
        return self._get(list[Passage], "GET", f"/agents/{_q(agent)}/passages", params=params)

    def search_passages(
        self,
        agent: str,
        query: str,
        *,
        limit: int = 10,
        tags: list[str] | None = None,
        match_all_tags: bool = False,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[Passage]:
        """Search archival memory; optionally only passages with any (or all) of ``tags``,
        created in [start, end)."""
        params = {"query": query, "limit": limit, "tags": tags, "match_all_tags": match_all_tags,
                  "start": start, "end": end}
        return self._get(list[Passage], "GET", f"/agents/{_q(agent)}/passages/search", params=params)

    def delete_passage(self, agent: str, passage_id: str) -> None:
        """Delete a passage."""
        self._call("DELETE", f"/agents/{_q(agent)}/passages/{_q(passage_id)}")

    # --- tools -------------------------------------------------------------------------------
    def create_tool(
        self,
        source_code: str,
        *,
        function: str | None = None,
        description: str | None = None,
        tags: list[str] | None = None,
        return_char_limit: int | None = None,
        default_requires_approval: bool | None = None,
    ) -> ToolDef:
        """A custom tool from Python source: the last top-level function, or ``function``."""
        body = _present(source_code=source_code, function=function, description=description, tags=tags,
                        return_char_limit=return_char_limit, default_requires_approval=default_requires_approval)
        return self._get(ToolDef, "POST", "/tools", json=body)

    def upsert_tool(
        self,
        source_code: str,
        *,
        function: str | None = None,
        description: str | None = None,
        tags: list[str] | None = None,
        return_char_limit: int | None = None,
        default_requires_approval: bool | None = None,
    ) -> ToolDef:
        """Create a custom tool or replace yours of the same name (options as create_tool)."""
        body = _present(source_code=source_code, function=function, description=description, tags=tags,
                        return_char_limit=return_char_limit, default_requires_approval=default_requires_approval)
        return self._get(ToolDef, "PUT", "/tools", json=body)

    def list_tools(self) -> list[ToolDef]:
        """The base tools, then your custom tools."""
        return self._get(list[ToolDef], "GET", "/tools")

    def get_tool(self, tool: str) -> ToolDef:
        """A tool by id or name."""
        return self._get(ToolDef, "GET", f"/tools/{_q(tool)}")

    def update_tool(
        self,
        tool: str,
        *,
        source_code: str | None = None,
        description: str | None = None,
        tags: list[str] | None = None,
        return_char_limit: int | None = None,
        default_requires_approval: bool | None = None,
    ) -> ToolDef:
        """Change a custom tool's source, description, tags or return limit (None: unchanged)."""
        body = _present(source_code=source_code, description=description, tags=tags,
                        return_char_limit=return_char_limit, default_requires_approval=default_requires_approval)
        return self._get(ToolDef, "PATCH", f"/tools/{_q(tool)}", json=body)

    def delete_tool(self, tool: str) -> None:
        """Delete a custom tool."""
        self._call("DELETE", f"/tools/{_q(tool)}")

    def list_agent_tools(self, agent: str) -> list[ToolDef]:
        """The tools the agent's model is offered."""
        return self._get(list[ToolDef], "GET", f"/agents/{_q(agent)}/tools")

    def attach_tool(self, agent: str, tool: str) -> AgentState:
        """Give the agent a custom tool."""
        return self._get(AgentState, "PUT", f"/agents/{_q(agent)}/tools/{_q(tool)}")

    def detach_tool(self, agent: str, tool: str) -> AgentState:
        """Take a custom tool from the agent."""
        return self._get(AgentState, "DELETE", f"/agents/{_q(agent)}/tools/{_q(tool)}")

    def set_agent_tools(self, agent: str, tools: list[str]) -> AgentState:
        """Make the agent's custom tools exactly those named (base tools stay regardless)."""
        return self._get(AgentState, "PUT", f"/agents/{_q(agent)}/tools", json={"tools": tools})

    # --- identities, tags, messages across agents -------------------------------------------
    def create_identity(
        self, identifier_key: str, name: str, *, identity_type: str = "user",
        properties: list[IdentityProperty] | None = None, agent_ids: list[str] | None = None,
    ) -> Identity:
        """A new identity (identifier_key unique among yours), linked to the agents named."""
        body = _present(identifier_key=identifier_key, name=name, identity_type=identity_type,
                        properties=_props(properties), agent_ids=agent_ids)
        return self._get(Identity, "POST", "/identities", json=body)

    def upsert_identity(
        self, identifier_key: str, name: str, *, identity_type: str = "user",
        properties: list[IdentityProperty] | None = None, agent_ids: list[str] | None = None,
    ) -> Identity:
        """The identity with this key made anew, or replaced (its agents too, if given)."""
        body = _present(identifier_key=identifier_key, name=name, identity_type=identity_type,
                        properties=_props(properties), agent_ids=agent_ids)
        return self._get(Identity, "PUT", "/identities", json=body)

    def list_identities(
        self, *, name: str | None = None, identifier_key: str | None = None, identity_type: str | None = None,
    ) -> list[Identity]:
        """Your identities, oldest first (name matches a part, any case)."""
        params = {"name": name, "identifier_key": identifier_key, "identity_type": identity_type}
        return self._get(list[Identity], "GET", "/identities", params=params)

    def get_identity(self, identity_id: str) -> Identity:
        """One identity by id."""
        return self._get(Identity, "GET", f"/identities/{_q(identity_id)}")

    def update_identity(
        self, identity_id: str, *, identifier_key: str | None = None, name: str | None = None,
        identity_type: str | None = None, properties: list[IdentityProperty] | None = None,
        agent_ids: list[str] | None = None,
    ) -> Identity:
        """Change an identity; ``properties`` and ``agent_ids`` replace the current ones."""
        body = _present(identifier_key=identifier_key, name=name, identity_type=identity_type,
                        properties=_props(properties), agent_ids=agent_ids)
        return self._get(Identity, "PATCH", f"/identities/{_q(identity_id)}", json=body)

    def delete_identity(self, identity_id: str) -> None:
        """Delete an identity (its agents stay, unlinked)."""
        self._call("DELETE", f"/identities/{_q(identity_id)}")

    def attach_identity(self, agent: str, identity_id: str) -> AgentState:
        """Link an identity to an agent."""
        return self._get(AgentState, "PUT", f"/agents/{_q(agent)}/identities/{_q(identity_id)}")

    def detach_identity(self, agent: str, identity_id: str) -> AgentState:
        """Unlink an identity from an agent (both are kept)."""
        return self._get(AgentState, "DELETE", f"/agents/{_q(agent)}/identities/{_q(identity_id)}")

    def agent_identities(self, agent: str) -> list[Identity]:
        """The identities linked to an agent."""
        return self._get(list[Identity], "GET", f"/agents/{_q(agent)}/identities")

    def set_agent_tags(self, agent: str, tags: list[str]) -> list[str]:
        """Make an agent's tags exactly these; returns them sorted."""
        return self._get(list[str], "PUT", f"/agents/{_q(agent)}/tags", json={"tags": tags})

    def agent_tags(self, agent: str) -> list[str]:
        """An agent's tags, sorted."""
        return self._get(list[str], "GET", f"/agents/{_q(agent)}/tags")

    def list_tags(self, *, name: str | None = None) -> list[str]:
        """The distinct tags of your agents, sorted (``name``: a part, any case)."""
        return self._get(list[str], "GET", "/tags", params={"name": name})

    def find_agents(
        self, *, tags: list[str] | None = None, match_all_tags: bool = False, identity_id: str | None = None,
        identifier_keys: list[str] | None = None,
    ) -> list[AgentState]:
        """Your agents with any (or all) of the tags, linked to the identity / identities of these keys."""
        params = {"tags": tags, "match_all_tags": match_all_tags, "identity_id": identity_id,
                  "identifier_keys": identifier_keys}
        return self._get(list[AgentState], "GET", "/agent-search", params=params)

    def list_all_messages(
        self, *, after: str | None = None, before: str | None = None, limit: int = 100,
        order: Literal["asc", "desc"] = "desc",
    ) -> list[Message]:
        """Messages of all your agents by time (newest first by default); after/before are message ids."""
        params = {"after": after, "before": before, "limit": limit, "order": order}
        return self._get(list[Message], "GET", "/messages", params=params)

    def get_any_message(self, message_id: str) -> Message:
        """One message of any of your agents by id."""
        return self._get(Message, "GET", f"/messages/{_q(message_id)}")

    def search_all_messages(
        self, query: str | None, *, agent: str | None = None, start: datetime | None = None,
        end: datetime | None = None, limit: int = 50,
    ) -> list[Message]:
        """Recall search over one agent or all your agents, within [start, end)."""
        params = {"query": query, "agent": agent, "start": start, "end": end, "limit": limit}
        return self._get(list[Message], "GET", "/messages/search", params=params)

    # --- agent files -------------------------------------------------------------------------
    def export_agent(self, agent: str, *, messages: bool = True, passages: bool = True) -> dict[str, Any]:
        """The agent as an agent file (a JSON-ready dict)."""
        params = {"messages": messages, "passages": passages}
        return self._get(dict[str, Any], "GET", f"/agents/{_q(agent)}/export", params=params)

    def import_agent(
        self,
        data: Any,
        *,
        name: str | None = None,
        model: str | None = None,
        strip_messages: bool = False,
        replace_tools: bool = True,
        copy_suffix: bool = False,
    ) -> AgentState:
        """A new agent (new ids) from an agent file's parsed JSON; ``name``/``model`` override
        the file's."""
        body = {"file": data, "name": name, "model": model, "strip_messages": strip_messages,
                "replace_tools": replace_tools, "copy_suffix": copy_suffix}
        return self._get(AgentState, "POST", "/agents/import", json=body)


def _present(**fields: Any) -> dict[str, Any]:
    """A JSON body of the fields given (None means "not given", as in AgentService)."""
    return {k: v for k, v in fields.items() if v is not None}


def _props(properties: list[IdentityProperty] | None) -> Any:
    return None if properties is None else [p.model_dump(mode="json") for p in properties]


def _block_json(block: Block | dict[str, Any]) -> Any:
    return block.model_dump(mode="json") if isinstance(block, Block) else block
