"""``memgpt eval``: memory tasks run against any model memgpt can reach, scored and costed.

Tasks: ``locomo`` (LoCoMo question answering after reading the conversation as chat), ``dmr``
(deep memory retrieval: the conversation only in recall memory) and ``nested-kv`` (the MemGPT
paper's nested key-value retrieval, levels 0-4). A run returns a JSON-ready report: the
configuration, one record per item and the aggregates (scores with 95% intervals overall and
per category or level, tokens, cost, latency). A front end like the CLI and the SDK: it uses
AgentService and the layers below it.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from memgpt.core.errors import InvalidRequestError
from memgpt.core.version import VERSION
from memgpt.evals.harness import EvalConfig, Judge, Progress, aggregate
from memgpt.evals.pricing import PRICES_AS_OF
from memgpt.evals.tasks import TaskResult, dmr, locomo_qa, nested_kv
from memgpt.services.service import AgentService

__all__ = ["REPORT_FORMAT", "TASKS", "EvalConfig", "run_eval", "summary"]

REPORT_FORMAT = "memgpt-eval/1"
TASKS = {
    "locomo": "LoCoMo QA: read each conversation session by session as chat, then answer (judge, F1, BLEU-1)",
    "dmr": "deep memory retrieval: LoCoMo sessions only in recall memory, then answer (judge, F1, BLEU-1)",
    "nested-kv": "the MemGPT paper's nested key-value retrieval from archival memory, levels 0-4 (exact match)",
}


def _quiet(_: str) -> None:
    """No progress output."""


async def run_eval(svc: AgentService, config: EvalConfig, progress: Progress = _quiet) -> dict[str, Any]:
    """Run one task against ``config.model`` in ``svc`` and return its report."""
    if config.task not in TASKS:
        raise InvalidRequestError(f"unknown task {config.task!r}; tasks: {', '.join(TASKS)}")
    if config.limit is not None and config.limit < 1:
        raise InvalidRequestError("--limit must be at least 1")
    svc.kernel.check_model(config.model)
    started, clock = datetime.now(UTC), time.perf_counter()
    result: TaskResult
    if config.task == "nested-kv":
        result = await nested_kv(svc, config, progress)
    else:
        judge = Judge(svc.kernel.model(config.judge))
        task = locomo_qa if config.task == "locomo" else dmr
        result = await task(svc, config, judge, progress)
    return {
        "format": REPORT_FORMAT,
        "memgpt_version": VERSION,
        "task": config.task,
        "config": {**config.as_dict(), "embedder": svc.embedder.name, "prices_as_of": PRICES_AS_OF},
        "started_at": started.isoformat(),
        "elapsed_s": round(time.perf_counter() - clock, 3),
        "aggregates": aggregate(result.items, result.ingest, result.ingest_s, config, result.group,
                                result.accuracy),
        "items": result.items,
    }


def _cell(scores: dict[str, Any], key: str) -> str:
    s = scores.get(key)
    return f"{s['mean']:.3f} [{s['ci95'][0]:.3f}, {s['ci95'][1]:.3f}]" if s else "-"


def summary(report: dict[str, Any]) -> list[str]:
    """A few lines for a terminal: scores per group with 95% intervals, tokens, cost, latency."""
    agg = report["aggregates"]
    accuracy = "accuracy" if report["task"] == "nested-kv" else "judge_accuracy"
    group = next(k for k in agg if k.startswith("by_"))
    lines = [f"{report['task']} with {report['config']['model']} (judge {report['config']['judge_model']}):"]
    rows = [("overall", agg["overall"]), *sorted(agg[group].items())]
    for name, scores in rows:
        extra = "" if accuracy == "accuracy" else f"  F1 {_cell(scores, 'f1')}  BLEU-1 {_cell(scores, 'bleu1')}"
        label = "J" if accuracy == "judge_accuracy" else "accuracy"
        lines.append(f"  {name:<16} n={scores['n']:<4} {label} {_cell(scores, accuracy)}{extra}"
                     + (f"  errors={scores['errors']}" if scores["errors"] else ""))
    tokens, cost = agg["tokens"], agg["cost"]
    lines.append(f"  tokens: agent {tokens['agent']['prompt']} in / {tokens['agent']['completion']} out "
                 f"({tokens['agent']['calls']} calls), judge {tokens['judge']['prompt']} in / "
                 f"{tokens['judge']['completion']} out")
    total = cost["total_usd"]
    lines.append(f"  cost: {'unknown (no price for this model; see --price-in/--price-out)' if total is None else f'${total:.4f}'}"
                 f"  latency per answer: mean {agg['latency_s']['mean']}s, p95 {agg['latency_s']['p95']}s")
    return lines
