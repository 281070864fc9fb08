"""What every task shares: asking an agent, grading with the judge, counting tokens, and
turning per-item records into the report's aggregates."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memgpt.core.errors import MemGPTError
from memgpt.core.schemas import Message, Role, SendResult, TextPart, Usage
from memgpt.evals import scoring
from memgpt.evals.pricing import Price, cost_dict
from memgpt.llm.base import Model, ModelRequest
from memgpt.services.service import AgentService

Progress = Callable[[str], None]


@dataclass
class EvalConfig:
    """One run: the task, the model under test, the judge, the data and the limits."""

    task: str
    model: str
    judge_model: str | None = None
    data: Path | None = None
    limit: int | None = None
    categories: tuple[int, ...] = (1, 2, 3, 4)
    levels: tuple[int, ...] = (0, 1, 2, 3, 4)
    turns_per_message: int = 0
    context_window: int | None = None
    price: Price | None = None
    judge_price: Price | None = None

    @property
    def judge(self) -> str:
        """The judge's model spec (the model under test unless one is given)."""
        return self.judge_model or self.model

    def as_dict(self) -> dict[str, Any]:
        """The configuration as the report records it."""
        return {
            "task": self.task, "model": self.model, "judge_model": self.judge,
            "data": str(self.data) if self.data else None, "limit": self.limit,
            "categories": list(self.categories), "levels": list(self.levels),
            "turns_per_message": self.turns_per_message, "context_window": self.context_window,
        }


@dataclass
class Tokens:
    """Prompt and completion tokens, summed over model calls."""

    prompt: int = 0
    completion: int = 0
    calls: int = 0

    def add(self, usage: Usage, calls: int = 1) -> None:
        """Count one response's (or one turn's) usage."""
        self.prompt += usage.prompt_tokens
        self.completion += usage.completion_tokens
        self.calls += calls

    def as_dict(self) -> dict[str, int]:
        return {"prompt": self.prompt, "completion": self.completion, "calls": self.calls}


@dataclass
class Answer:
    """What the agent said to one input, with its cost and time."""

    text: str
    tokens: Tokens
    latency_s: float
    tools: list[str] = field(default_factory=list)
    error: str | None = None


def said(result: SendResult) -> str:
    """The agent's answer: its send_message texts, else any plain assistant text."""
    failed = {r.call_id for m in result.messages for r in m.tool_results if r.is_error}
    sent = [json.loads(c.arguments).get("message", "") for m in result.messages for c in m.tool_calls
            if c.name == "send_message" and c.id not in failed and _is_object(c.arguments)]
    texts = [s for s in sent if isinstance(s, str) and s] or result.replies
    return "\n".join(texts).strip()


def _is_object(raw: str) -> bool:
    try:
        return isinstance(json.loads(raw), dict)
    except ValueError:
        return False


async def ask(svc: AgentService, agent_id: str, text: str) -> Answer:
    """Send one user message through the normal agent loop; an error is recorded, not raised."""
    start = time.perf_counter()
    try:
        result = await svc.send_message(agent_id, text)
    except MemGPTError as exc:
        return Answer("", Tokens(), time.perf_counter() - start, error=f"{type(exc).__name__}: {exc}")
    tokens = Tokens()
    tokens.add(result.usage, calls=len(result.steps))
    tools = [c.name for m in result.messages for c in m.tool_calls]
    return Answer(said(result), tokens, time.perf_counter() - start, tools)


@dataclass
class Verdict:
    correct: bool | None
    reason: str
    tokens: Tokens
    error: str | None = None


class Judge:
    """Grades an answer against the gold one with an LLM (the J metric)."""

    def __init__(self, model: Model) -> None:
        self.model = model

    async def grade(self, question: str, gold: str, answer: str) -> Verdict:
        """CORRECT/WRONG with the judge's reason; an unreadable verdict is None (counted wrong)."""
        request = ModelRequest(messages=[
            Message(role=Role.SYSTEM, parts=[TextPart(text=scoring.JUDGE_SYSTEM)]),
            Message.user(scoring.judge_prompt(question, gold, answer)),
        ], max_tokens=1024)  # room for a reasoning model to think before its label
        tokens = Tokens()
        try:
            response = await self.model.complete(request)
        except MemGPTError as exc:
            return Verdict(None, "", tokens, f"{type(exc).__name__}: {exc}")
        tokens.add(response.usage)
        text = response.message.text
        return Verdict(scoring.parse_label(text), text.strip(), tokens)


async def grade_qa(judge: Judge, question: str, gold: str, category: int, answer: Answer) -> dict[str, Any]:
    """Judge, F1 and BLEU-1 of one question's answer, as report fields."""
    verdict = await judge.grade(question, gold, answer.text) if answer.error is None else None
    return {
        "answer": answer.text, "correct": bool(verdict and verdict.correct),
        "judge": None if verdict is None else {"label": verdict.correct, "reason": verdict.reason,
                                               "error": verdict.error},
        "f1": round(scoring.locomo_f1(answer.text, gold, category), 4),
        "bleu1": round(scoring.bleu1(answer.text, gold), 4),
        "tokens": answer.tokens.as_dict(),
        "judge_tokens": (verdict.tokens if verdict else Tokens()).as_dict(),
        "latency_s": round(answer.latency_s, 3), "tools": answer.tools, "error": answer.error,
    }


class TooManyErrors(MemGPTError):
    """The model fails every time: stop instead of recording a run of errors."""


def check_errors(items: list[dict[str, Any]], limit: int = 3) -> None:
    """Stop the run when its first ``limit`` items all failed (a wrong key, URL or model name)."""
    if len(items) == limit and all(i.get("error") for i in items):
        raise TooManyErrors(f"the first {limit} items all failed; last error: {items[-1]['error']}")


# --- aggregates ------------------------------------------------------------------------------
def _scores(items: list[dict[str, Any]], accuracy: str) -> dict[str, Any]:
    out: dict[str, Any] = {"n": len(items), "errors": sum(1 for i in items if i.get("error"))}
    out[accuracy] = scoring.wilson(sum(1 for i in items if i["correct"]), len(items)).as_dict()
    for metric in ("f1", "bleu1"):
        values = [float(i[metric]) for i in items if metric in i]
        if values:
            out[metric] = scoring.bootstrap(values).as_dict()
    return out


def _groups(items: list[dict[str, Any]], key: str) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for item in sorted(items, key=lambda i: str(i[key])):
        out.setdefault(str(item[key]), []).append(item)
    return out


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def _sum(items: Iterable[dict[str, Any]], field_name: str) -> Tokens:
    total = Tokens()
    for i in items:
        t = i.get(field_name) or {}
        total.prompt += t.get("prompt", 0)
        total.completion += t.get("completion", 0)
        total.calls += t.get("calls", 0)
    return total


def aggregate(items: list[dict[str, Any]], ingest: Tokens, ingest_s: float, config: EvalConfig, group: str,
              accuracy: str) -> dict[str, Any]:
    """Scores overall and per group (category or level), tokens, cost and latency."""
    answers, judge = _sum(items, "tokens"), _sum(items, "judge_tokens")
    agent = Tokens(answers.prompt + ingest.prompt, answers.completion + ingest.completion,
                   answers.calls + ingest.calls)
    agent_cost = cost_dict(config.price, agent.prompt, agent.completion)
    judge_cost = cost_dict(config.judge_price, judge.prompt, judge.completion) if judge.calls else None
    total = None
    if agent_cost is not None and (judge_cost is not None or not judge.calls):
        total = round(agent_cost["usd"] + (judge_cost["usd"] if judge_cost else 0.0), 6)
    latencies = [float(i["latency_s"]) for i in items if "latency_s" in i]
    return {
        "overall": _scores(items, accuracy),
        f"by_{group}": {k: _scores(v, accuracy) for k, v in _groups(items, group).items()},
        "tokens": {"ingest": ingest.as_dict(), "answers": answers.as_dict(), "agent": agent.as_dict(),
                   "judge": judge.as_dict()},
        "cost": {"agent": agent_cost, "judge": judge_cost, "total_usd": total},
        "ingest_s": round(ingest_s, 3),
        "latency_s": {"mean": round(sum(latencies) / len(latencies), 3) if latencies else 0.0,
                      "p50": round(_percentile(latencies, 0.5), 3), "p95": round(_percentile(latencies, 0.95), 3)},
    }
