"""The Model interface: provider-neutral requests and responses."""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from memgpt.schemas import Message, Role, ToolSchema, Usage


class ModelRequest(BaseModel):
    """What the agent asks a model: the compiled messages and the tools it may call."""

    messages: list[Message]
    tools: list[ToolSchema] = Field(default_factory=list)
    purpose: Literal["agent", "summary"] = "agent"
    max_tokens: int | None = None

    @property
    def system(self) -> str:
        """The system message's text (empty if none)."""
        first = self.messages[0] if self.messages else None
        return first.text if first is not None and first.role is Role.SYSTEM else ""


class ModelResponse(BaseModel):
    """A model's answer: one assistant message, usage, and any repairs made to parse it."""

    message: Message
    usage: Usage = Field(default_factory=Usage)
    repairs: list[str] = Field(default_factory=list)


@runtime_checkable
class Model(Protocol):
    """Anything that turns a ModelRequest into a ModelResponse."""

    name: str

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """Answer one request."""
        ...
