"""The tasks: LoCoMo question answering, deep memory retrieval (DMR) and nested key-value.

LoCoMo QA: one agent per conversation reads it session by session through the normal loop.
Each session is one user message (or ``--turns-per-message`` turns per message), headed by the
session's date and time, its turns as ``Speaker: text`` lines. This keeps a conversation to
about one model turn per session (LoCoMo's have 19 to 35 sessions) instead of one per turn (up
to ~700), while the agent still decides what to keep in core or archival memory and older
sessions still leave the window into recall as it fills. Then each question is asked in turn,
in the same agent, and graded.

DMR (after the MemGPT paper's deep memory retrieval): the conversation's sessions are put into
the agent's recall memory as past messages, dated by their sessions, without running the model
over them (an agent file is imported whose window starts after them), so the agent can reach
them only by searching; each question is then asked and graded like LoCoMo's.

Nested KV (the MemGPT paper's task): 140 UUID key-value passages in archival memory, chained so
that the value of a listed record is the key of the next; the agent must follow the chain from
the first key to the last value. Correct when the final value appears in its answer.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from memgpt.evals.data import CATEGORIES, Conversation, Question, Session, kv_cases, load_locomo
from memgpt.evals.harness import (
    EvalConfig, Judge, Progress, Tokens, TooManyErrors, ask, check_errors, grade_qa,
)
from memgpt.services.service import AgentService

QA_PROMPT = (
    "Question about the conversation between {a} and {b} you read earlier: {question}\n"
    "Answer in a short phrase. Use your memory (search it when what you need is no longer in "
    "view). For a question about when something happened, answer with the date."
)
DMR_PROMPT = (
    "Your recall memory holds earlier conversations between {a} and {b} (search it with your "
    "tools; they are no longer in view). {question}\nAnswer in a short phrase; for a question "
    "about when something happened, answer with the date."
)
KV_PROMPT = (
    "Your archival memory holds key-value pairs. Find the value for key {key}. If that value is "
    "itself a key, keep looking until you reach a value that is not a key, and tell me that value."
)


@dataclass
class TaskResult:
    """Per-item records and what loading the data into the agents cost."""

    items: list[dict[str, Any]]
    group: str
    accuracy: str
    ingest: Tokens = field(default_factory=Tokens)
    ingest_s: float = 0.0


def select(conversations: list[Conversation], config: EvalConfig) -> list[tuple[Conversation, list[Question]]]:
    """The questions to ask, in file order, at most ``limit`` in all; conversations without one
    are skipped (never read)."""
    chosen: list[tuple[Conversation, list[Question]]] = []
    left = config.limit
    for conv in conversations:
        qs = [q for q in conv.questions if q.category in config.categories]
        if left is not None:
            qs, left = qs[:left], left - min(left, len(qs))
        if qs:
            chosen.append((conv, qs))
        if left == 0:
            break
    return chosen


def session_messages(conv: Conversation, session: Session, per_message: int) -> list[str]:
    """The user messages that present one session: a dated header, then ``Speaker: text``."""
    turns = session.turns
    size = per_message if per_message > 0 else max(1, len(turns))
    chunks = [turns[i:i + size] for i in range(0, len(turns), size)] or [[]]
    out = []
    for k, chunk in enumerate(chunks):
        part = f", part {k + 1} of {len(chunks)}" if len(chunks) > 1 else ""
        head = (f"[{session.date_time}] Session {session.number} of a conversation between "
                f"{conv.speaker_a} and {conv.speaker_b}{part}. Remember what matters; you will be "
                "asked about it later.")
        out.append("\n".join([head, *(f"{t.speaker}: {t.text}" for t in chunk)]))
    return out


def _qa_item(task: str, conv: Conversation, q: Question) -> dict[str, Any]:
    return {"id": f"{conv.sample_id}/q{q.index}", "task": task, "sample_id": conv.sample_id,
            "category": f"{q.category}_{CATEGORIES.get(q.category, 'other')}", "question": q.question,
            "gold": q.answer, "evidence": q.evidence}


async def _questions(svc: AgentService, judge: Judge, task: str, agent_id: str, conv: Conversation,
                     qs: list[Question], prompt: str, items: list[dict[str, Any]], progress: Progress) -> None:
    for q in qs:
        answer = await ask(svc, agent_id, prompt.format(a=conv.speaker_a, b=conv.speaker_b, question=q.question))
        item = {**_qa_item(task, conv, q), **await grade_qa(judge, q.question, q.answer, q.category, answer)}
        items.append(item)
        check_errors(items)
        progress(f"{item['id']} [{item['category']}] {'CORRECT' if item['correct'] else 'WRONG'} "
                 f"f1={item['f1']:.2f}")


async def locomo_qa(svc: AgentService, config: EvalConfig, judge: Judge, progress: Progress) -> TaskResult:
    """Read each conversation as chat, then answer its questions."""
    result = TaskResult([], "category", "judge_accuracy")
    run = secrets.token_hex(3)
    for conv, qs in select(load_locomo(config.data), config):
        agent = await svc.create_agent(f"eval-locomo-{conv.sample_id}-{run}", model=config.model,
                                       context_window=config.context_window)
        start = time.perf_counter()
        for session in conv.sessions:
            for text in session_messages(conv, session, config.turns_per_message):
                said = await ask(svc, agent.id, text)
                result.ingest.prompt += said.tokens.prompt
                result.ingest.completion += said.tokens.completion
                result.ingest.calls += said.tokens.calls
                if said.error:
                    raise_on_read_error(conv, session, said.error)
            progress(f"{conv.sample_id}: read session {session.number}/{len(conv.sessions)}")
        result.ingest_s += time.perf_counter() - start
        await _questions(svc, judge, "locomo", agent.id, conv, qs, QA_PROMPT, result.items, progress)
    return result


def raise_on_read_error(conv: Conversation, session: Session, error: str) -> None:
    """A failed read leaves the agent without part of the conversation: stop, saying where."""
    raise TooManyErrors(f"{conv.sample_id}: reading session {session.number} failed: {error}")


def past_messages(conv: Conversation, agent_ref: str, model: str) -> list[dict[str, Any]]:
    """Every turn as a dated past user message in the agent file's (Letta's) message shape."""
    out: list[dict[str, Any]] = []
    for session in conv.sessions:
        for k, turn in enumerate(session.turns):
            out.append({
                "type": "message", "id": f"message-past-{len(out)}", "agent_id": agent_ref, "model": model,
                "role": "user", "content": [{"type": "text", "text": f"{turn.speaker}: {turn.text}"}],
                "created_at": (session.moment + timedelta(seconds=30 * k)).isoformat(),
                "name": None, "tool_calls": None, "tool_call_id": None, "tool_returns": [],
            })
    return out


async def preload(svc: AgentService, name: str, conv: Conversation, config: EvalConfig) -> str:
    """A new agent whose recall holds the conversation, all of it out of the window: a fresh
    agent's file with the past turns put after its system message, imported."""
    template = await svc.create_agent(f"{name}-template", model=config.model, context_window=config.context_window)
    data = await svc.export_agent(template.id)
    await svc.delete_agent(template.id)
    agent = data["agents"][0]
    system, rest = agent["messages"][:1], agent["messages"][1:]
    agent["messages"] = [*system, *past_messages(conv, agent["id"], config.model), *rest]
    agent["in_context_message_ids"] = [m["id"] for m in [*system, *rest]]
    state = await svc.import_agent(data, name=name, model=config.model)
    return state.id


async def dmr(svc: AgentService, config: EvalConfig, judge: Judge, progress: Progress) -> TaskResult:
    """Answer questions about conversations that are only in recall memory."""
    result = TaskResult([], "category", "judge_accuracy")
    run = secrets.token_hex(3)
    for conv, qs in select(load_locomo(config.data), config):
        start = time.perf_counter()
        agent_id = await preload(svc, f"eval-dmr-{conv.sample_id}-{run}", conv, config)
        result.ingest_s += time.perf_counter() - start
        progress(f"{conv.sample_id}: {sum(len(s.turns) for s in conv.sessions)} past messages in recall")
        await _questions(svc, judge, "dmr", agent_id, conv, qs, DMR_PROMPT, result.items, progress)
    return result


async def nested_kv(svc: AgentService, config: EvalConfig, progress: Progress) -> TaskResult:
    """Follow key-value chains through archival memory, at each nesting level."""
    result = TaskResult([], "level", "accuracy")
    run = secrets.token_hex(3)
    for level in config.levels:
        for case in kv_cases(level, config.data, config.limit):
            agent = await svc.create_agent(f"eval-kv-{level}-{case.index}-{run}", model=config.model,
                                           context_window=config.context_window)
            start = time.perf_counter()
            await svc.insert_passages(agent.id, case.passages)
            result.ingest_s += time.perf_counter() - start
            answer = await ask(svc, agent.id, KV_PROMPT.format(key=case.key))
            item = {
                "id": f"level{level}/{case.index}", "task": "nested-kv", "level": level, "key": case.key,
                "gold": case.answer, "answer": answer.text, "correct": case.answer in answer.text,
                "searches": answer.tools.count("archival_memory_search"), "tokens": answer.tokens.as_dict(),
                "latency_s": round(answer.latency_s, 3), "tools": answer.tools, "error": answer.error,
            }
            result.items.append(item)
            check_errors(result.items)
            await svc.delete_agent(agent.id)
            progress(f"nested-kv {item['id']} {'CORRECT' if item['correct'] else 'WRONG'} "
                     f"searches={item['searches']}")
    return result
