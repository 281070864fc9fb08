"""Tool rules and approvals in the loop: what Letta's tool rules change in a turn, and how a
call held for approval is answered.

Rules (``AgentConfig.tool_rules``):

- ``run_first``: a turn started by an input runs the tool as its first step, before the model
  is asked (our providers take no forced tool choice); the rule's ``args`` are its arguments.
  The model is then asked in the next step, seeing the call and its result.
- ``exit_loop`` (terminal): once the tool ran in a step, the chain ends after that step, even
  if the call asked for a heartbeat.
- ``max_count_per_step``: the tool runs at most ``max_count_limit`` times per turn (Letta
  counts over one request's chain too); once reached it is no longer offered to the model and
  a further call gets an error result.
- ``required_before_exit``: a chain that would end before the tool ran this turn goes on,
  with an event telling the model to call it (the step budget still bounds the chain).
- ``requires_approval``: the call is kept in the model's reply, marked, and not run; the step
  stops the chain (``StopReason.REQUIRES_APPROVAL``). The pending request is the unanswered,
  marked call in recall, so it survives a restart. The client's answer becomes the next
  turn's input: one tool message with the approved calls' results (run then) and an error
  result carrying the reason for denied ones; the model is then asked as after any input.
  A new user message or event while a call waits is refused (409), as Letta refuses it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable

from memgpt.core.errors import AlreadyExistsError, InvalidRequestError
from memgpt.core.schemas import Message, Role, Step, ToolCallPart, ToolResultPart, ToolRule, new_id
from memgpt.core.tool_control import Decision
from memgpt.llm.base import ModelRequest
from memgpt.runtime.agent import AgentRuntime

DENIED = "The user denied this call{reason}. It did not run."
MAX_COUNT = "Not run: {name} may run at most {limit} times per turn (a tool rule). Go on without it."
REQUIRED_EVENT = "Before you finish, call {names}: a rule requires it before your turn may end."
SUPPORTED = ("exit_loop", "run_first", "max_count_per_step", "required_before_exit", "requires_approval")


class PendingApprovalError(AlreadyExistsError):
    """A new input came while a tool call waits for approval (answered 409, as Letta does)."""


class TurnRules:
    """An agent's tool rules over one turn: counts what ran, says what the loop must do."""

    def __init__(self, rules: Iterable[ToolRule], *, fresh: bool = True) -> None:
        self.rules = list(rules)
        self.fresh = fresh
        """The turn started from an input (not an approval answer): run_first applies."""
        self.counts: Counter[str] = Counter()

    def names(self, kind: str) -> list[str]:
        """Tools with a rule of this kind."""
        return [r.tool_name for r in self.rules if r.type == kind]

    def mark(self, reply: Message) -> Message:
        """The reply with the calls that need approval marked (kept unrun until answered)."""
        held = set(self.names("requires_approval"))
        if not held or not any(c.name in held for c in reply.tool_calls):
            return reply
        parts = [p.model_copy(update={"requires_approval": True})
                 if isinstance(p, ToolCallPart) and p.name in held else p for p in reply.parts]
        return reply.model_copy(update={"parts": parts})

    def _limits(self) -> dict[str, int]:
        return {r.tool_name: r.max_count_limit or 1 for r in self.rules if r.type == "max_count_per_step"}

    def offer(self, request: ModelRequest) -> ModelRequest:
        """The request without the tools that reached their count this turn."""
        spent = {n for n, limit in self._limits().items() if self.counts[n] >= limit}
        if not spent:
            return request
        return request.model_copy(update={"tools": [t for t in request.tools if t.name not in spent]})

    def refusal(self, name: str) -> str | None:
        """Why a call may not run (its count is reached), or None."""
        limit = self._limits().get(name)
        if limit is not None and self.counts[name] >= limit:
            return MAX_COUNT.format(name=name, limit=limit)
        return None

    def ran(self, name: str) -> None:
        """Count a call that ran."""
        self.counts[name] += 1

    def first_reply(self, index: int) -> Message | None:
        """The run_first calls as the first step's reply (None: ask the model)."""
        first = [r for r in self.rules if r.type == "run_first"]
        if index != 0 or not self.fresh or not first:
            return None
        calls = [ToolCallPart(id=new_id("call"), name=r.tool_name,
                              arguments=json.dumps({**(r.args or {}), "request_heartbeat": True}))
                 for r in first]
        return Message(role=Role.ASSISTANT, parts=list(calls))

    def ends_chain(self, done: Step) -> bool:
        """Whether a terminal tool ran (successfully) in the step."""
        terminal = set(self.names("exit_loop"))
        failed = {r.call_id for m in done.messages for r in m.tool_results if r.is_error}
        return any(c.name in terminal and c.id not in failed for m in done.messages for c in m.tool_calls)

    def exit_refusal(self) -> str | None:
        """The event that keeps a chain going because a required tool has not run yet."""
        missing = [n for n in dict.fromkeys(self.names("required_before_exit")) if not self.counts[n]]
        return REQUIRED_EVENT.format(names=", ".join(missing)) if missing else None


def awaiting(done: Step) -> bool:
    """Whether the step left calls waiting for approval."""
    return any(c.requires_approval for m in done.messages for c in m.tool_calls)


def pending_calls(context: list[Message]) -> list[tuple[Message, ToolCallPart]]:
    """The calls in the window held for approval and not answered yet, with their messages.

    Only the messages since the last user message are read: every input is checked here
    first and refused while a call waits, so a call held before an accepted input had been
    answered (a turn costs a few messages' look, not a pass over the whole window)."""
    answered: set[str] = set()
    held: list[tuple[Message, ToolCallPart]] = []
    for m in reversed(context):
        if m.role is Role.USER:
            break
        answered.update(p.call_id for p in m.parts if isinstance(p, ToolResultPart))
        held[:0] = [(m, p) for p in m.parts
                    if isinstance(p, ToolCallPart) and p.requires_approval and p.id not in answered]
    return held


def check_input(context: list[Message], message: Message) -> None:
    """Refuse a new input while a call waits for approval (PendingApprovalError)."""
    pending = pending_calls(context)
    if not pending:
        return
    answers = {r.call_id for r in message.tool_results} if message.role is Role.TOOL else set()
    if answers != {c.id for _, c in pending}:
        names = ", ".join(c.name for _, c in pending)
        raise PendingApprovalError(
            f"the agent is waiting for approval of a call to {names} (approval request "
            f"{pending[0][0].id}): approve or deny it before sending a new message"
        )


def _verdicts(
    pending: list[tuple[Message, ToolCallPart]], decisions: list[Decision], request_id: str | None
) -> dict[str, Decision]:
    ids = {c.id for _, c in pending}
    if request_id is not None and request_id not in {m.id for m, _ in pending} | ids:
        raise InvalidRequestError(
            f"approval_request_id {request_id!r} is not the pending approval request "
            f"({pending[0][0].id})")
    blanket = [d for d in decisions if d.call_id is None]
    if blanket:
        return {i: blanket[0] for i in ids}
    given = {d.call_id: d for d in decisions if d.call_id is not None}
    if set(given) != ids:
        raise InvalidRequestError(
            f"answer every pending tool call: expected {sorted(ids)}, got {sorted(given)}")
    return given


async def decide(agent: AgentRuntime, decisions: list[Decision], request_id: str | None = None) -> Message:
    """The answer to the pending calls as a tool message (the next turn's input): approved
    calls run now (their writes join the input's commit), denied ones get the reason."""
    pending = pending_calls(agent.context)
    if not pending:
        raise InvalidRequestError(
            "no tool call is awaiting approval; send a regular message to talk to the agent")
    verdicts = _verdicts(pending, decisions, request_id)
    await agent.close_interrupted()
    results: list[ToolResultPart] = []
    for _, call in pending:
        verdict = verdicts[call.id]
        if not verdict.approve:
            reason = f": {verdict.reason}" if verdict.reason else ""
            results.append(ToolResultPart(call_id=call.id, name=call.name,
                                          content=DENIED.format(reason=reason), is_error=True))
            continue
        if agent.tools.is_external(call.name):
            await agent.unit.journal_start(agent.state.id, call.id, call.name, call.arguments)
            agent.pending.finished_calls.append(call.id)
        outcome = await agent.tools.run(call, agent)
        results.append(ToolResultPart(call_id=call.id, name=call.name, content=outcome.content,
                                      is_error=outcome.is_error))
    return Message(role=Role.TOOL, parts=list(results))


def checked(rules: list[ToolRule], tools: Iterable[str]) -> list[ToolRule]:
    """Rules that name the agent's tools, one of each kind per tool (InvalidRequestError)."""
    known = set(tools)
    unknown = sorted({r.tool_name for r in rules} - known)
    if unknown:
        raise InvalidRequestError(f"tool rules name tools the agent does not have: {unknown} "
                                  f"(its tools: {', '.join(sorted(known))})")
    out: dict[tuple[str, str], ToolRule] = {}
    for r in rules:
        out[(r.type, r.tool_name)] = r  # a later rule of the same kind for a tool wins
    return list(out.values())
