"""The Model interface: provider-neutral requests and responses."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from memgpt.core.events import Delta
from memgpt.core.schemas import Message, Role, ToolSchema, Usage

__all__ = ["Delta", "DeltaHandler", "Model", "ModelRequest", "ModelResponse"]


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


DeltaHandler = Callable[[Delta], Awaitable[None]]


@runtime_checkable
class Model(Protocol):
    """Anything that turns a ModelRequest into a ModelResponse.

    With ``on_delta`` the model streams: it awaits the handler with each piece as it
    arrives, and still returns the whole response at the end.
    """

    name: str

    async def complete(
        self, request: ModelRequest, *, on_delta: DeltaHandler | None = None
    ) -> ModelResponse:
        """Answer one request."""
        ...
