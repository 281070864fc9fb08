"""The Model interface: provider-neutral requests and responses."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from memgpt.core.errors import MalformedReplyError
from memgpt.core.events import Delta
from memgpt.core.schemas import Message, Role, ToolSchema, Usage

__all__ = [
    "UNREADABLE", "Delta", "DeltaHandler", "Model", "ModelRequest", "ModelResponse",
    "retry_empty", "unreadable",
]

UNREADABLE = (ValueError, TypeError, AttributeError, LookupError)
"""What reading a reply of the wrong shape raises (JSONDecodeError and pydantic's
ValidationError are ValueErrors): providers turn these into MalformedReplyError."""


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


def unreadable(model: str, reply: object, exc: BaseException | None = None) -> MalformedReplyError:
    """The error for a reply that is not what the API promises (an HTML page, bad JSON)."""
    if exc is not None:
        return MalformedReplyError(f"{model} sent a reply that cannot be read ({type(exc).__name__}: {exc})")
    shown = repr(reply)
    shown = shown if len(shown) <= 200 else shown[:200] + "..."
    return MalformedReplyError(f"{model} sent a reply that is not the JSON its API promises: {shown}")


async def retry_empty(model: str, call: Callable[[], Awaitable[ModelResponse]]) -> ModelResponse:
    """A reply with neither text nor a tool call says nothing and does nothing: ask once more,
    then fail (502), so the turn ends with an error the user sees instead of silence."""
    for _ in range(2):
        response = await call()
        if response.message.text or response.message.tool_calls:
            return response
    raise MalformedReplyError(f"{model} returned an empty reply (no text and no tool call), twice")
