"""The plain types of tool control that every layer shares: a tool run's outcome, a tool
search hit and an answer to a call held for approval (``memgpt.runtime.rules``)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from memgpt.core.schemas import ToolDef


class ToolRun(BaseModel):
    """What running a tool outside a turn gave: its result text and whether it failed."""

    content: str
    is_error: bool


class ToolSearchHit(BaseModel):
    """A tool found by search, with its score in [0, 1]."""

    tool: ToolDef
    score: float


class Decision(BaseModel):
    """A client's answer to a call held for approval: the call's id (None: every pending
    call), yes or no, and why (the model is told the reason of a denial)."""

    call_id: str | None = None
    approve: bool
    reason: str | None = Field(default=None, max_length=10_000)
