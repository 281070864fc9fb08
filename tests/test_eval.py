"""`memgpt eval` end to end against the fake OpenAI server: each task's JSON report is built from
what the fake model answered (right for some items, wrong for others) and what it was billed."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fakes.openai_server import FakeOpenAI, Reply, completion, error
from memgpt.cli.main import app
from memgpt.evals import scoring
from memgpt.evals.data import kv_cases, load_locomo

LOCOMO = Path(__file__).resolve().parent / "data" / "locomo_synthetic" / "locomo_synthetic.json"
KV_DATA = Path(__file__).resolve().parent / "data" / "nested_kv"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
AGENT_USAGE = {"prompt_tokens": 100, "completion_tokens": 20}
JUDGE_USAGE = {"prompt_tokens": 50, "completion_tokens": 10}

# The fake agent's answers: right for some questions, wrong for others; DMR answers need the
# recall search result to hold the word on the right (so the preloaded history is checked too).
ANSWERS = {
    "What is the name of Odile's greyhound?": ("Pepper", "greyhound", "Pepper"),
    "When did Tamsin start learning the cello?": ("In January 2024", "cello", "January"),
    "Where did Odile and her dog go hiking?": ("At the beach", "hiking", "Lake Morrow"),
}


def call(name: str, **arguments: Any) -> Reply:
    """The fake agent calling one tool."""
    return completion(None, [(name, json.dumps(arguments))], **AGENT_USAGE)


def since_input(messages: list[dict[str, Any]], marker: str) -> tuple[str, list[dict[str, Any]]]:
    """The current input (the last user message starting with ``marker``) and what followed."""
    at = max(i for i, m in enumerate(messages) if m["role"] == "user" and str(m["content"]).startswith(marker))
    return str(messages[at]["content"]), messages[at + 1:]


def judge(body: dict[str, Any]) -> Reply:
    """CORRECT when the gold answer appears in the generated one."""
    prompt = body["messages"][-1]["content"]
    gold = re.search(r"Gold answer: (.*)", prompt).group(1)  # type: ignore[union-attr]
    answer = re.search(r"Generated answer: (.*)", prompt).group(1)  # type: ignore[union-attr]
    label = "CORRECT" if gold.lower() in answer.lower() else "WRONG"
    return completion(f'Compared the two. {{"label": "{label}"}}', **JUDGE_USAGE)


def conversation_agent(body: dict[str, Any]) -> Reply:
    """Reads sessions ("Noted."), answers LoCoMo questions, and searches recall for DMR ones."""
    messages = body["messages"]
    last = str(messages[-1]["content"] or "")
    if messages[-1]["role"] == "user" and "Session" in last.split("\n")[0]:
        return call("send_message", message="Noted.")
    if messages[-1]["role"] == "user" and last.startswith("Question about"):
        question = last.split(": ", 1)[1].split("\n")[0]
        return call("send_message", message=ANSWERS[question][0])
    text, after = since_input(messages, "Your recall memory holds")
    question = next(q for q in ANSWERS if q in text)
    answer, keyword, evidence = ANSWERS[question]
    results = [str(m["content"]) for m in after if m["role"] == "tool"]
    if not results:
        return call("conversation_search", query=keyword, request_heartbeat=True)
    return call("send_message", message=answer if evidence in results[-1] else "I do not know")


def responder(body: dict[str, Any]) -> Reply:
    """The judge (a request without tools) or the agent."""
    return judge(body) if not body.get("tools") else conversation_agent(body)


def run(args: list[str]) -> Any:
    result = CliRunner().invoke(app, args)
    return result


def test_locomo_report(tmp_path: Path) -> None:
    """Two sessions read as two messages, two questions: one right, one wrong -> J 0.5."""
    out = tmp_path / "locomo.json"
    with FakeOpenAI(responder=responder) as fake:
        model = f"openai/gpt-4o-mini@{fake.url}"
        result = run(["eval", "locomo", "--model", model, "--data", str(LOCOMO), "--categories", "4",
                      "--limit", "2", "--out", str(out)])
        assert result.exit_code == 0, result.output
        reads = [m["content"] for r in fake.requests for m in r["messages"][-1:] if "Session" in str(m["content"])]
    report = json.loads(out.read_text())
    assert report["format"] == "memgpt-eval/1" and report["task"] == "locomo"
    assert report["config"]["model"] == model and report["config"]["judge_model"] == model
    assert len(reads) == 2 and reads[0].startswith("[4:10 pm on 3 March, 2024] Session 1")
    assert "Odile: He sleeps most of the day" in reads[0] and "grey dog asleep" in reads[0]
    items = report["items"]
    assert [i["answer"] for i in items] == ["Pepper", "At the beach"]
    assert [i["correct"] for i in items] == [True, False]
    assert [i["f1"] for i in items] == [1.0, 0.0] and [i["bleu1"] for i in items] == [1.0, 0.0]
    agg = report["aggregates"]
    assert agg["overall"]["judge_accuracy"]["mean"] == 0.5 and agg["overall"]["n"] == 2
    low, high = agg["overall"]["judge_accuracy"]["ci95"]
    assert 0 < low < 0.5 < high < 1  # Wilson at n=2
    assert agg["overall"]["f1"]["mean"] == 0.5 and agg["overall"]["bleu1"]["mean"] == 0.5
    assert list(agg["by_category"]) == ["4_single_hop"]
    tokens = agg["tokens"]  # 2 reads + 2 answers by the agent, 2 verdicts by the judge
    assert tokens["ingest"] == {"prompt": 200, "completion": 40, "calls": 2}
    assert tokens["answers"] == {"prompt": 200, "completion": 40, "calls": 2}
    assert tokens["judge"] == {"prompt": 100, "completion": 20, "calls": 2}
    expected = (400 * 0.15 + 80 * 0.60 + 100 * 0.15 + 20 * 0.60) / 1e6
    assert agg["cost"]["total_usd"] == pytest.approx(expected)
    assert "J 0.500" in result.output


def test_dmr_report(tmp_path: Path) -> None:
    """Sessions preloaded into recall (dated, out of the window): the fake finds them by searching;
    per-category scores come from its answers."""
    out = tmp_path / "dmr.json"
    with FakeOpenAI(responder=responder) as fake:
        model = f"vllm/some-local-model@{fake.url}"
        result = run(["eval", "dmr", "--model", model, "--data", str(LOCOMO), "--categories", "2,4",
                      "--limit", "3", "--out", str(out)])
        assert result.exit_code == 0, result.output
        first = fake.requests[0]["messages"]
        tool_results = [str(m["content"]) for r in fake.requests for m in r["messages"] if m["role"] == "tool"]
    assert not any("adopted a greyhound" in str(m["content"]) for m in first)  # only in recall
    assert any("2024-03-03" in t and "adopted a greyhound" in t for t in tool_results)  # dated by session
    report = json.loads(out.read_text())
    items = report["items"]
    assert [i["category"] for i in items] == ["4_single_hop", "2_temporal", "4_single_hop"]
    assert [i["correct"] for i in items] == [True, True, False]
    assert items[1]["f1"] == 0.8 and items[1]["bleu1"] == pytest.approx(0.6667)
    agg = report["aggregates"]
    assert agg["overall"]["judge_accuracy"]["mean"] == pytest.approx(0.6667)
    assert agg["by_category"]["4_single_hop"]["judge_accuracy"]["mean"] == 0.5
    assert agg["by_category"]["2_temporal"]["judge_accuracy"]["mean"] == 1.0
    assert agg["tokens"]["ingest"]["calls"] == 0  # nothing was run over the history
    assert agg["tokens"]["answers"] == {"prompt": 600, "completion": 120, "calls": 6}
    assert agg["cost"] == {"agent": None, "judge": None, "total_usd": None}  # no price for a local model


def kv_agent(wrong_key: str) -> Any:
    """Follows the chain through archival search (as tests/test_nested_kv.py's policy does), but
    stops after the first hop when asked about ``wrong_key``."""

    def respond(body: dict[str, Any]) -> Reply:
        text, after = since_input(body["messages"], "Your archival memory holds")
        key = re.search(UUID, text).group(0)  # type: ignore[union-attr]
        calls = [json.loads(c["function"]["arguments"]) for m in after for c in m.get("tool_calls") or []]
        results = [str(m["content"]) for m in after if m["role"] == "tool"]
        if not calls:
            return call("archival_memory_search", query=key, request_heartbeat=True)
        query = calls[-1]["query"]
        hop = re.search(rf"key = {query}, value = ({UUID})", results[-1])
        if hop and not (key == wrong_key and len(calls) == 2):
            return call("archival_memory_search", query=hop.group(1), request_heartbeat=True)
        return call("send_message", message=f"The value is {query}.")

    return respond


def test_nested_kv_report(tmp_path: Path) -> None:
    """Generated data, levels 0 and 2, two cases each; one level-2 answer is wrong."""
    out = tmp_path / "kv.json"
    wrong = kv_cases(2, None, 2)[1]
    with FakeOpenAI(responder=kv_agent(wrong.key)) as fake:
        result = run(["eval", "nested-kv", "--model", f"openai/gpt-4.1@{fake.url}", "--levels", "0,2",
                      "--limit", "2", "--out", str(out), "--price-in", "1", "--price-out", "2"])
        assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    items = report["items"]
    assert [i["id"] for i in items] == ["level0/0", "level0/1", "level2/0", "level2/1"]
    assert [i["correct"] for i in items] == [True, True, True, False]
    assert [i["searches"] for i in items] == [2, 2, 4, 2]
    assert items[3]["gold"] == wrong.answer and wrong.answer not in items[3]["answer"]
    agg = report["aggregates"]
    assert agg["by_level"]["0"]["accuracy"]["mean"] == 1.0 and agg["by_level"]["2"]["accuracy"]["mean"] == 0.5
    assert agg["overall"]["accuracy"]["mean"] == 0.75
    calls = sum(i["tokens"]["calls"] for i in items)
    assert calls == 3 + 3 + 5 + 3 and agg["tokens"]["agent"]["prompt"] == 100 * calls
    assert agg["tokens"]["judge"]["calls"] == 0
    assert agg["cost"]["agent"]["usd"] == pytest.approx((100 * calls * 1 + 20 * calls * 2) / 1e6)


def test_nested_kv_reads_the_papers_files() -> None:
    """--data takes the paper's folder: a file with n indices per line is level n - 1."""
    first = json.loads((KV_DATA / "kv-retrieval-140_keys.first_record.jsonl").read_text())
    order = json.loads((KV_DATA / "random_orderings_100_samples_140_indices_3_levels.jsonl").read_text().splitlines()[0])
    case = kv_cases(2, KV_DATA, 1)[0]
    records = first["ordered_kv_records"]
    assert case.key == records[order[0]][0] and case.answer == records[order[-1]][1]
    assert f"key = {records[order[0]][0]}, value = {records[order[1]][0]}" in case.passages[order[0]]
    assert kv_cases(4, None, 3) == kv_cases(4, None, 3)  # generated deterministically


def test_bad_input_is_a_clear_error(tmp_path: Path) -> None:
    """No data for LoCoMo, a bad level, an unknown task: exit 1 with a message, no report."""
    out = tmp_path / "r.json"
    cases = [(["locomo"], "needs --data"), (["nested-kv", "--levels", "0,9"], "--levels"),
             (["mystery"], "unknown task")]
    for args, message in cases:
        result = run(["eval", *args, "--model", "openai/gpt-4o-mini@http://127.0.0.1:9/v1", "--out", str(out)])
        assert result.exit_code == 1 and message in result.output, result.output
    assert not out.exists()
    assert load_locomo(LOCOMO)[0].questions[5].answer == "Not mentioned in the conversation"


def test_a_failing_model_stops_the_run(tmp_path: Path) -> None:
    """A model that refuses every request (a wrong name, say): the run stops after three items
    with the provider's message instead of recording a hundred errors."""
    out = tmp_path / "r.json"
    with FakeOpenAI(responder=lambda body: error(404, "The model `gpt-4o-mni` does not exist")) as fake:
        result = run(["eval", "nested-kv", "--model", f"openai/gpt-4o-mni@{fake.url}", "--out", str(out)])
        assert len(fake.requests) == 3
    assert result.exit_code == 1 and "first 3 items all failed" in result.output
    assert "does not exist" in result.output and not out.exists()


def test_scores() -> None:
    """LoCoMo's F1 per category, BLEU-1, the judge's label, and the intervals."""
    assert scoring.token_f1("The Lake Morrow, of course!", "lake morrow") == pytest.approx(2 * (2 / 4) / (2 / 4 + 1))
    assert scoring.token_f1("running", "runs") == 1.0  # Porter stems
    assert scoring.locomo_f1("socks, ducks", "steals socks, chases ducks", 1) == pytest.approx(2 / 3)
    assert scoring.locomo_f1("probably not", "Probably not; he refused to swim", 3) == 1.0
    assert scoring.locomo_f1("That is not mentioned anywhere.", "x", 5) == 1.0
    assert scoring.bleu1("pepper", "pepper the greyhound") == pytest.approx(math.exp(-1))  # "the" dropped; brevity
    assert scoring.parse_label('Same place. {"label": "CORRECT"}') is True
    assert scoring.parse_label("Different date, so WRONG") is False
    assert scoring.parse_label("no idea") is None
    w = scoring.wilson(5, 10)
    assert (round(w.low, 4), round(w.high, 4)) == (0.2366, 0.7634)
    b = scoring.bootstrap([0.0, 1.0, 1.0, 0.5])
    assert b == scoring.bootstrap([0.0, 1.0, 1.0, 0.5]) and b.low <= b.mean <= b.high
