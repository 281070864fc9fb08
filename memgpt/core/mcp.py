"""MCP servers and their tools as records (what the API, the SDKs and the store share); the
client that speaks MCP is ``memgpt.tools.mcp``. Kept in core so the SDKs import no tool code."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from memgpt.core.schemas import ToolDef, new_id

McpKind = Literal["stdio", "sse", "streamable_http"]
KINDS: tuple[str, ...] = ("stdio", "sse", "streamable_http")
MASK = "********"
"""What the API shows in place of a secret; sent back unchanged, it keeps the stored value."""


class McpServer(BaseModel):
    """A user's MCP server: how to reach it. ``env``, ``auth_token`` and ``custom_headers``
    values are secrets: stored encrypted, never returned by the API."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(default_factory=lambda: new_id("mcp_server"))
    owner: str = ""
    name: str = Field(min_length=1, max_length=200)
    kind: McpKind
    command: str | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    server_url: str | None = None
    auth_header: str | None = None
    auth_token: str | None = None
    custom_headers: dict[str, str] = Field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def masked(self) -> McpServer:
        """This server as the API shows it: every secret value replaced by ``MASK``."""
        return self.model_copy(update={
            "env": {k: MASK for k in self.env},
            "auth_token": MASK if self.auth_token else self.auth_token,
            "custom_headers": {k: MASK for k in self.custom_headers},
        })


class McpRun(BaseModel):
    """What running an MCP tool directly gave: its result text and whether it failed."""

    content: str
    is_error: bool


class McpRefresh(BaseModel):
    """What a refresh changed, by tool name."""

    added: list[str]
    updated: list[str]
    deleted: list[str]


class McpTool(ToolDef):
    """A tool an MCP server offers, as stored for its owner (attachable to agents like any tool)."""

    server_id: str
    server_name: str = ""
    input_schema: dict[str, Any] = Field(default_factory=dict)
