"""Letta's shapes for tool control: running a tool, approvals, tool rules and tool search."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from memgpt.core.errors import InvalidRequestError
from memgpt.core.schemas import ToolRule

SUPPORTED_RULES = ("exit_loop", "run_first", "max_count_per_step", "required_before_exit", "requires_approval")
"""Letta's tool rule types this server runs; the others (continue_loop, constrain_child_tools,
conditional, parent_last_tool) are refused with a 400 rather than stored and ignored."""


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ApprovalReturn(_In):
    """One answer in an approval: which call, yes or no, and why."""

    tool_call_id: str
    approve: bool
    reason: str | None = None
    type: Literal["approval"] | None = None


class ApprovalCreate(_In):
    """An approval sent as a message: ``approvals`` (one per call), or the older form
    ``approve`` + ``approval_request_id`` (+ ``reason``) answering every pending call."""

    type: Literal["approval"]
    approvals: list[ApprovalReturn] | None = None
    approve: bool | None = None
    approval_request_id: str | None = None
    reason: str | None = None
    otid: str | None = None
    group_id: str | None = None


class RunToolRequest(_In):
    """POST /v1/agents/{agent_id}/tools/{tool_name}/run."""

    args: dict[str, Any] = Field(default_factory=dict)


class UpdateApprovalRequest(_In):
    """PATCH /v1/agents/{agent_id}/tools/approval/{tool_name} (the body's form)."""

    requires_approval: bool | None = None


class ToolExecutionResult(BaseModel):
    """What running a tool gave, as Letta returns it."""

    status: Literal["success", "error"]
    func_return: Any = None
    agent_state: Any = None
    stdout: list[str] | None = None
    stderr: list[str] | None = None
    sandbox_config_fingerprint: str | None = None


class ToolSearchRequest(_In):
    """POST /v1/tools/search. ``search_mode`` is accepted and ignored: the match is a plain
    score over each tool's name, tags and description."""

    query: str | None = None
    limit: int = Field(default=50, ge=1, le=1000)
    search_mode: Literal["vector", "fts", "hybrid"] | None = None
    tags: list[str] | None = None
    tool_types: list[str] | None = None


def tool_rules_in(raw: list[dict[str, Any]]) -> list[ToolRule]:
    """Letta's tool rules as ours; a kind we do not run, or a malformed rule, is a 400."""
    out: list[ToolRule] = []
    for n, item in enumerate(raw):
        kind = item.get("type")
        if kind not in SUPPORTED_RULES:
            raise InvalidRequestError(
                f"tool_rules[{n}]: rule type {kind!r} is not supported (supported: {', '.join(SUPPORTED_RULES)})")
        fields = {k: item.get(k) for k in ("type", "tool_name", "max_count_limit", "args") if item.get(k) is not None}
        try:
            out.append(ToolRule.model_validate(fields))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise InvalidRequestError(f"tool_rules[{n}]: {problems}") from None
        if kind == "max_count_per_step" and out[-1].max_count_limit is None:
            raise InvalidRequestError(f"tool_rules[{n}]: max_count_per_step needs max_count_limit")
    return out


def tool_rules_out(rules: list[ToolRule]) -> list[dict[str, Any]]:
    """Our tool rules in Letta's shape."""
    return [r.model_dump(exclude_none=True) for r in rules]
