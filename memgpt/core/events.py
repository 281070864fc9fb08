"""Typed events out of the agent loop: what streams, renderers and pages consume.

A send emits, in order: ``Delta`` pieces while a model streams; ``MessageSaved`` for each
message once its step has committed; ``MemoryChanged`` when a step edited blocks or added
passages; ``StepFinished`` after each step; ``RunFinished`` once the input is handled (with
the error, if it failed). Letta's SSE, the native stream, the CLI and the web workbench are
all views of this one sequence.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from memgpt.core.schemas import Message, StopReason, Usage

__all__ = [
    "Delta", "Event", "Listener", "MemoryChanged", "MessageSaved", "RunFinished", "StepFinished",
    "StopReason",
]


class Delta(BaseModel):
    """A streamed piece of a response: content text, reasoning text, or tool-call arguments."""

    type: Literal["delta"] = "delta"
    kind: Literal["content", "reasoning", "tool_call"]
    text: str = ""
    index: int = 0
    call_id: str | None = None
    name: str | None = None


class MessageSaved(BaseModel):
    """A message of the agent's, now durable in recall memory."""

    type: Literal["message"] = "message"
    agent_id: str
    message: Message


class MemoryChanged(BaseModel):
    """A step changed core memory blocks (by label) or added archival passages."""

    type: Literal["memory"] = "memory"
    agent_id: str
    blocks: list[str] = Field(default_factory=list)
    passages: int = 0


class StepFinished(BaseModel):
    """One model call and its tool calls, committed."""

    type: Literal["step"] = "step"
    agent_id: str
    step_id: str
    index: int
    heartbeat: bool
    stop_reason: StopReason | None
    usage: Usage


class RunFinished(BaseModel):
    """One input handled: how it stopped, total usage, and the error if it failed."""

    type: Literal["run"] = "run"
    agent_id: str
    input_id: str
    stop_reason: StopReason
    steps: int
    usage: Usage
    error: str | None = None


Event = Annotated[
    Delta | MessageSaved | MemoryChanged | StepFinished | RunFinished, Field(discriminator="type")
]
Listener = Callable[[Delta | MessageSaved | MemoryChanged | StepFinished | RunFinished], Awaitable[None]]
"""Receives every event of a send, in order."""
