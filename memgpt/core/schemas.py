"""Provider-neutral domain types: messages and their parts, blocks, passages, agents, steps."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Collection
from datetime import datetime, timezone
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from memgpt.core.errors import InvalidTextError


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(timezone.utc)


def new_id(prefix: str) -> str:
    """A fresh public identifier such as ``agent-1f0c...``."""
    return f"{prefix}-{uuid.uuid4()}"


_STABLE_NS = uuid.UUID("5d3f1c52-8f4e-4c4e-9b8e-6f2f2a9c1e10")


def stable_id(prefix: str, *parts: str) -> str:
    """A deterministic ``prefix-<uuid>`` for things we do not store with an id (blocks, base tools)."""
    return f"{prefix}-{uuid.uuid5(_STABLE_NS, '/'.join(parts))}"


_SURROGATE = re.compile("[\\ud800-\\udfff]")
_UNSTORABLE = re.compile("[\\x00\\ud800-\\udfff]")


def text_problem(value: str) -> str | None:
    """Why text cannot be stored, or None: a NUL or a lone UTF-16 surrogate (JSON parsers join
    valid pairs into one character, so any surrogate left in a ``str`` is alone)."""
    found = _UNSTORABLE.search(value)
    if found is None:
        return None
    char = found.group()
    what = "a NUL character (U+0000)" if char == "\x00" else (
        f"a lone surrogate (U+{ord(char):04X}; UTF-16 surrogates must come in pairs)")
    return f"text contains {what} at character {found.start()}"


def scrub_text(value: str) -> str:
    """Text from a model or a tool made storable: lone surrogates become U+FFFD, NULs go."""
    return _SURROGATE.sub("\ufffd", value).replace("\x00", "") if _UNSTORABLE.search(value) else value


def _no_lone_surrogates(value: object) -> object:
    """Refuse text UTF-8 cannot encode before anything stores or sends it. Raised as
    InvalidTextError (a 400), which pydantic lets through unwrapped. NULs are left to the
    server's request check: rows stored before it may hold them and must still load."""
    if isinstance(value, str) and _SURROGATE.search(value):
        raise InvalidTextError(text_problem(value))
    return value


Text = Annotated[str, BeforeValidator(_no_lone_surrogates)]
"""A ``str`` field that holds user-visible text (messages, blocks, passages, instructions)."""


class Role(StrEnum):
    """Who a message comes from. EVENT is a system notice to the model (heartbeat, alert)."""

    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"
    EVENT = "event"


class TextPart(BaseModel):
    """Plain text: what the user said, or a reply not sent through a tool."""

    type: Literal["text"] = "text"
    text: Text


class ReasoningPart(BaseModel):
    """The model's private inner monologue; never shown to the user as a reply."""

    type: Literal["reasoning"] = "reasoning"
    text: Text


class ToolCallPart(BaseModel):
    """A function call requested by the model; arguments kept raw (may be malformed JSON)."""

    type: Literal["tool_call"] = "tool_call"
    id: str
    name: str
    arguments: str
    requires_approval: bool = False
    """The agent's rules held this call for a user's approval: it runs (or is refused) only
    when the client answers, so until then it is a pending approval request."""


class ToolResultPart(BaseModel):
    """The result of one tool call."""

    type: Literal["tool_result"] = "tool_result"
    call_id: str
    name: str
    content: str
    is_error: bool = False


Part = Annotated[
    TextPart | ReasoningPart | ToolCallPart | ToolResultPart, Field(discriminator="type")
]


class Message(BaseModel):
    """One message in an agent's history (recall memory is the list of all of them)."""

    id: str = Field(default_factory=lambda: new_id("message"))
    agent_id: str = ""
    seq: int = -1
    role: Role
    parts: list[Part] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=utcnow)
    step_id: str | None = None

    @property
    def text(self) -> str:
        """Concatenated text parts."""
        return "\n".join(p.text for p in self.parts if isinstance(p, TextPart))

    @property
    def reasoning(self) -> str:
        """Concatenated reasoning parts."""
        return "\n".join(p.text for p in self.parts if isinstance(p, ReasoningPart))

    @property
    def tool_calls(self) -> list[ToolCallPart]:
        """The tool calls this message makes."""
        return [p for p in self.parts if isinstance(p, ToolCallPart)]

    @property
    def tool_results(self) -> list[ToolResultPart]:
        """The tool results this message carries."""
        return [p for p in self.parts if isinstance(p, ToolResultPart)]

    def sent_messages(self, skip: Collection[str] = ()) -> list[str]:
        """What this message said to the user through ``send_message`` (or plain text).

        Calls whose ids are in ``skip`` (e.g. ones that failed) are left out.
        """
        out: list[str] = []
        for call in self.tool_calls:
            if call.name == "send_message" and call.id not in skip:
                try:
                    args = json.loads(call.arguments)
                except json.JSONDecodeError:
                    continue
                if isinstance(args, dict) and isinstance(args.get("message"), str):
                    out.append(args["message"])
        if self.role is Role.ASSISTANT and self.text:
            out.append(self.text)
        return out

    def search_text(self) -> str:
        """The text recall search indexes: user words and the assistant's words and thoughts."""
        if self.role is Role.USER:
            return self.text
        if self.role is Role.ASSISTANT:
            return "\n".join(filter(None, [self.reasoning, *self.sent_messages()]))
        return ""

    @classmethod
    def user(cls, text: str) -> Message:
        """A user message with the given text."""
        return cls(role=Role.USER, parts=[TextPart(text=text)])

    @classmethod
    def event(cls, text: str) -> Message:
        """A system event for the model (heartbeat, memory alert)."""
        return cls(role=Role.EVENT, parts=[TextPart(text=text)])


class Usage(BaseModel):
    """Tokens a model call used, as the provider reports them."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            cached_tokens=self.cached_tokens + other.cached_tokens,
        )


class Block(BaseModel):
    """A core memory block: a labelled piece of text always in the context window."""

    model_config = ConfigDict(validate_assignment=True)

    label: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")
    value: Text = ""
    limit: int = Field(default=2000, ge=1)
    description: Text = ""
    read_only: bool = False
    updated_at: datetime = Field(default_factory=utcnow)


class Passage(BaseModel):
    """A passage of archival memory."""

    id: str = Field(default_factory=lambda: new_id("passage"))
    agent_id: str = ""
    """The agent whose own passage it is ("" for an archive's)."""
    text: Text
    tags: list[str] = Field(default_factory=list)
    embedding_model: str = ""
    created_at: datetime = Field(default_factory=utcnow)
    archive_id: str | None = None
    """The archive holding it (None for an agent's own passage)."""
    metadata: dict[str, Any] = Field(default_factory=dict)
    """What its maker attached to it (archives' passages)."""


def reply_reserve(context_window: int, max_output_tokens: int | None) -> int:
    """Tokens of the window kept for the model's reply: the agent's setting, else
    min(4096, window / 8). A request larger than the window less this triggers eviction."""
    return max_output_tokens or min(4096, context_window // 8)


ToolRuleType = Literal["exit_loop", "run_first", "max_count_per_step", "required_before_exit",
                       "requires_approval"]


class ToolRule(BaseModel):
    """One of Letta's tool rules an agent carries: ``exit_loop`` (the chain ends once the
    tool ran), ``run_first`` (a turn's first step calls it), ``max_count_per_step`` (at most
    ``max_count_limit`` calls in one turn), ``required_before_exit`` (the chain may not end
    before it ran) and ``requires_approval`` (it runs only once a user approves the call)."""

    type: ToolRuleType
    tool_name: str = Field(min_length=1, max_length=200)
    max_count_limit: int | None = Field(default=None, ge=1, le=1_000_000)
    args: dict[str, Any] | None = None
    """Prefilled arguments (``run_first``)."""


class AgentConfig(BaseModel):
    """What an operator sets: identity, model, instructions and window. Changed by
    ``update_agent``, never by the loop."""

    id: str = Field(default_factory=lambda: new_id("agent"))
    owner: str = "local"
    name: str = Field(min_length=1, max_length=200)
    model: str
    summarizer_model: str | None = None
    embedding_model: str = ""
    instructions: Text
    context_window: int = Field(ge=512)
    max_output_tokens: int | None = None
    created_at: datetime = Field(default_factory=utcnow)
    tool_rules: list[ToolRule] = Field(default_factory=list)


class AgentPosition(BaseModel):
    """Where the loop stands: the window's start in recall, the recursive summary, the
    pressure flag and the compiled system message. Written by the loop, one step at a time."""

    summary: str = ""
    context_start: int = 0
    warned: bool = False
    system_compiled: str = ""
    memory_dirty: bool = True
    last_memory_edit: datetime | None = None
    heartbeats_paused_until: datetime | None = None


CONFIG_FIELDS = tuple(AgentConfig.model_fields)
POSITION_FIELDS = tuple(AgentPosition.model_fields)


class AgentState(AgentPosition, AgentConfig):
    """An agent as loaded: its configuration and its loop position (stored apart), and the
    version the store gave it (bumped by every write, so caches can tell they are current)."""

    version: int = 0

    def position(self) -> AgentPosition:
        """The loop-position part."""
        return AgentPosition.model_validate({f: getattr(self, f) for f in POSITION_FIELDS})

    def config(self) -> AgentConfig:
        """The configuration part."""
        return AgentConfig.model_validate({f: getattr(self, f) for f in CONFIG_FIELDS})


class ToolSchema(BaseModel):
    """A tool as the model sees it: name, description and JSON schema of its parameters."""

    name: str
    description: str
    parameters: dict[str, Any]


class ToolDef(BaseModel):
    """A tool agents can call: a base tool (built in, every agent has it) or a custom tool
    made from Python source by its owner (attached to agents one by one)."""

    id: str = Field(default_factory=lambda: new_id("tool"))
    name: str
    spec: ToolSchema
    builtin: bool = False
    owner: str = ""
    source_code: str = ""
    tags: list[str] = Field(default_factory=list)
    return_char_limit: int = Field(default=6000, ge=1, le=1_000_000)
    default_requires_approval: bool = False
    """Agents it is attached to hold its calls for approval (a ``requires_approval`` rule)."""
    created_at: datetime | None = None
    updated_at: datetime | None = None


class StopReason(StrEnum):
    """Why a chain of steps stopped."""

    END_TURN = "end_turn"
    """The model answered without asking for another step."""
    REPEATED_CALL = "repeated_call"
    """The same tool call came back too many times in a row (the breaker)."""
    MAX_STEPS = "max_steps"
    """The step budget ran out while the model still asked for heartbeats."""
    ERROR = "error"
    """The turn failed; the input stays saved."""
    REQUIRES_APPROVAL = "requires_approval"
    """A tool call waits for the user's approval; the client's answer resumes the chain."""
    CANCELLED = "cancelled"
    """Cancelled between steps (``agents.messages.cancel``); finished steps stay."""


class Step(BaseModel):
    """One model call and the tool calls it made."""

    id: str = Field(default_factory=lambda: new_id("step"))
    index: int
    messages: list[Message] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    heartbeat: bool = False
    stop_reason: StopReason | None = None
    repairs: list[str] = Field(default_factory=list)


class SendResult(BaseModel):
    """What one input to an agent produced: the persisted input and every step."""

    agent_id: str
    input: Message
    steps: list[Step]

    @property
    def messages(self) -> list[Message]:
        """Every message produced, in order (the input excluded)."""
        return [m for s in self.steps for m in s.messages]

    @property
    def replies(self) -> list[str]:
        """What the user was told (send_message calls that failed are not counted)."""
        failed = {r.call_id for m in self.messages for r in m.tool_results if r.is_error}
        return [t for m in self.messages for t in m.sent_messages(skip=failed)]

    @property
    def usage(self) -> Usage:
        """Total usage across steps."""
        total = Usage()
        for s in self.steps:
            total = total + s.usage
        return total


class ContextReport(BaseModel):
    """Tokens of each section of the compiled context window."""

    context_window: int
    sections: dict[str, int]
    total: int
    in_context_messages: int
    recall_messages: int
    archival_passages: int
