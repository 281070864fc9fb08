"""The agent loop: commit the input, then step (compile, call the model, run tools, commit)
while the model asks for heartbeats, up to a budget, with a breaker for repeated calls."""

from __future__ import annotations

import asyncio
import json

from memgpt.core.errors import ContextOverflowError, ModelTimeoutError
from memgpt.core.events import RunFinished, StepFinished, StopReason
from memgpt.core.prompts import BREAKER_EVENT, FAILED_EVENT, HEARTBEAT_EVENT
from memgpt.core.schemas import Message, Role, SendResult, Step, Usage, utcnow
from memgpt.memory.unit import StepRecord
from memgpt.runtime.agent import AgentRuntime, tool_result
from memgpt.runtime.rules import TurnRules, awaiting, check_input

__all__ = ["AgentRuntime", "run", "step"]

TOO_MANY_CALLS = (
    "Not run: at most {cap} tool calls run per response (MEMGPT_MAX_TOOL_CALLS_PER_STEP). "
    "Make the calls that still matter in your next response."
)


async def step(agent: AgentRuntime, index: int, turn: TurnRules | None = None) -> Step:
    """Compile, call the model once, run its tool calls; the caller commits. Under the
    agent's tool rules (``memgpt.runtime.rules``): a run-first step runs its tools without
    the model, calls held for approval stay unrun, a tool past its count is refused."""
    turn = turn or TurnRules(agent.state.tool_rules)
    result = Step(index=index)
    first = turn.first_reply(index)
    result.heartbeat = first is not None  # after a run-first step the model is asked
    reply = first or await _ask(agent, result, turn)
    reply = reply.model_copy(update={"step_id": result.id, "created_at": utcnow()})
    result.messages += agent.append([reply])
    cap = agent.settings.max_tool_calls_per_step
    for n, call in enumerate(reply.tool_calls):
        if call.requires_approval:
            continue  # answered by the client's approval, which is the next turn's input
        refusal = TOO_MANY_CALLS.format(cap=cap) if n >= cap else turn.refusal(call.name)
        if refusal:  # not run, but answered: every call keeps its result (the wire needs it)
            result.heartbeat = True  # the model hears of it and may go on without it
            answer = tool_result(call.id, call.name, refusal, True)
            result.messages += agent.append([answer.model_copy(update={"step_id": result.id})])
            continue
        if agent.tools.is_external(call.name):
            await agent.unit.journal_start(agent.state.id, call.id, call.name, call.arguments)
            agent.pending.finished_calls.append(call.id)
        outcome = await agent.tools.run(call, agent)
        turn.ran(call.name)
        result.heartbeat |= outcome.heartbeat
        answer = tool_result(call.id, call.name, outcome.content, outcome.is_error)
        result.messages += agent.append([answer.model_copy(update={"step_id": result.id})])
    return result


async def _ask(agent: AgentRuntime, result: Step, turn: TurnRules) -> Message:
    """The model's reply to the current context (tools past their count not offered)."""
    request = turn.offer(await agent.prepare())
    deltas = agent.listener if agent.streaming else None
    try:
        response = await agent.model.complete(request, on_delta=deltas)
    except ContextOverflowError:  # the provider counts differently: evict, retry once
        await agent.evict(0)
        response = await agent.model.complete(turn.offer(await agent.prepare()), on_delta=deltas)
    result.repairs, result.usage = response.repairs, response.usage
    return turn.mark(response.message)


def _signature(step: Step) -> str:
    calls = []
    for m in step.messages:
        for c in m.tool_calls:
            try:
                args = json.loads(c.arguments)
                if isinstance(args, dict):
                    args.pop("request_heartbeat", None)
                canonical = json.dumps(args, sort_keys=True)
            except json.JSONDecodeError:
                canonical = c.arguments
            calls.append(f"{c.name}:{canonical}")
    return "|".join(calls)


def _stop(
    agent: AgentRuntime, done: Step, index: int, repeats: int, turn: TurnRules
) -> StopReason | None:
    """Why the chain stops after this step (None: go on), with the event that says so."""
    if awaiting(done):
        return StopReason.REQUIRES_APPROVAL
    if repeats >= agent.settings.repeat_limit:
        done.messages += agent.append([Message.event(BREAKER_EVENT.format(n=repeats))])
        return StopReason.REPEATED_CALL
    if not done.heartbeat or turn.ends_chain(done):
        nudge = turn.exit_refusal()  # a tool the rules require before the end has not run
        if nudge is None or index + 1 == agent.max_steps:
            return StopReason.END_TURN
        done.messages += agent.append([Message.event(nudge)])
        return None
    if agent.cancel_requested():  # between steps: this one is kept, no other starts
        return StopReason.CANCELLED
    if index + 1 == agent.max_steps:
        return StopReason.MAX_STEPS
    failed = any(r.is_error for m in done.messages for r in m.tool_results)
    done.messages += agent.append([Message.event(FAILED_EVENT if failed else HEARTBEAT_EVENT)])
    return None


async def run(agent: AgentRuntime, user_input: Message) -> SendResult:
    """Handle one input: commit it, then step until no heartbeat, the budget, or the breaker.

    The steps share one deadline (``settings.turn_timeout``, every model call and retry in
    it): when it passes, or the caller cancels, the step under way is dropped whole (a
    commit under way lands first) and the input and finished steps stay. A timeout raises
    ModelTimeoutError."""
    check_input(agent.context, user_input)  # a call waiting for approval is answered first
    await agent.close_interrupted()
    [stored] = agent.append([user_input])
    turn = TurnRules(agent.state.tool_rules, fresh=stored.role is not Role.TOOL)
    await agent.commit()  # the input is durable before any model is called
    steps: list[Step] = []
    limit = agent.settings.turn_timeout
    deadline = asyncio.timeout(limit)
    try:
        async with deadline:
            await _chain(agent, stored, steps, turn)
    except TimeoutError as exc:
        if not deadline.expired():
            await _emit_run(agent, stored, steps, StopReason.ERROR, f"{type(exc).__name__}: {exc}")
            raise
        error = ModelTimeoutError(
            f"the turn did not finish within {limit:g} s (MEMGPT_TURN_TIMEOUT) and was stopped; "
            "its input and every step finished before it are saved"
        )
        await _emit_run(agent, stored, steps, StopReason.ERROR, f"ModelTimeoutError: {error}")
        raise error from None
    except asyncio.CancelledError:
        await _emit_run(agent, stored, steps, StopReason.ERROR, "cancelled")
        raise
    except Exception as exc:
        await _emit_run(agent, stored, steps, StopReason.ERROR, f"{type(exc).__name__}: {exc}")
        raise
    await _emit_run(agent, stored, steps, StopReason(steps[-1].stop_reason or StopReason.END_TURN), None)
    return SendResult(agent_id=agent.state.id, input=stored, steps=steps)


async def _chain(agent: AgentRuntime, stored: Message, steps: list[Step], turn: TurnRules) -> None:
    """Step, committing each, until one says stop; finished steps are added to steps."""
    last, repeats = "", 0
    for index in range(agent.max_steps):
        done = await step(agent, index, turn)
        signature = _signature(done)
        repeats = repeats + 1 if signature and signature == last else 1
        last = signature
        done.stop_reason = _stop(agent, done, index, repeats, turn)
        record = StepRecord(stored.id, agent.model.name, done, agent.run_id)
        await agent.commit(record, last=bool(done.stop_reason))
        steps.append(done)
        await _emit_step(agent, done)
        if done.stop_reason:
            break


async def _emit_step(agent: AgentRuntime, done: Step) -> None:
    if agent.listener is not None:
        await agent.listener(StepFinished(
            agent_id=agent.state.id, step_id=done.id, index=done.index, heartbeat=done.heartbeat,
            stop_reason=StopReason(done.stop_reason) if done.stop_reason else None, usage=done.usage,
        ))


async def _emit_run(
    agent: AgentRuntime, stored: Message, steps: list[Step], reason: StopReason, error: str | None
) -> None:
    if agent.listener is not None:
        usage = sum((s.usage for s in steps), Usage())
        await agent.listener(RunFinished(
            agent_id=agent.state.id, input_id=stored.id, stop_reason=reason, steps=len(steps),
            usage=usage, error=error,
        ))
