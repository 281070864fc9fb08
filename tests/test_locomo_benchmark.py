"""The LoCoMo retrieval benchmark runs end to end on a slice of one conversation."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "locomo_retrieval.py"
DATA = ROOT.parent / "shared" / "data" / "locomo" / "locomo6.json"
KEYS = {"recall@1", "recall@5", "recall@10", "all@10"}
SESSIONS = 4


def bench() -> ModuleType:
    """The benchmark script imported as a module."""
    spec = importlib.util.spec_from_file_location("locomo_retrieval", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while decorating
    spec.loader.exec_module(module)
    return module


def small_sample() -> dict[str, Any]:
    """The first sessions of the first conversation with the questions they can answer,
    plus one question with a malformed evidence id and an adversarial one (left out)."""
    assert DATA.exists(), f"LoCoMo data not found at {DATA} (../shared/data of the checkout)"
    sample = json.loads(DATA.read_text())[0]
    conv = sample["conversation"]
    keep = {k: v for k, v in conv.items() if not (m := re.match(r"session_(\d+)", k)) or int(m.group(1)) <= SESSIONS}
    in_range = [
        q for q in sample["qa"]
        if q["evidence"] and all(re.fullmatch(rf"D[1-{SESSIONS}]:\d+", e) for e in q["evidence"])
    ]
    odd = {"question": "Where did Caroline go?", "answer": "?", "category": 4,
           "evidence": ["D:1:3", "D", "D99:1; D1:4"]}
    return {"sample_id": sample["sample_id"], "conversation": keep, "qa": [*in_range, odd]}


def test_evidence_ids_are_cleaned() -> None:
    """Stray colons and lists in one entry are repaired; ids naming no turn are dropped."""
    b = bench()
    known = {"D1:3", "D1:4", "D1:5", "D8:6"}
    kept, notes = b.clean_evidence(["D1:3", "D:1:4", "D8:6; D1:5", "D", "D9:9"], known)
    assert kept == known
    assert notes == ["'D:1:4' -> D1:4", "'D8:6; D1:5' -> D8:6, D1:5", "'D' -> dropped", "'D9:9' -> dropped"]
    assert b.parse_session_date("1:56 pm on 8 May, 2023").isoformat() == "2023-05-08T13:56:00+00:00"


def test_bm25_ranks_matching_turns_first() -> None:
    """The baseline is textbook BM25: rarer and more frequent terms score higher."""
    b = bench()
    index = b.BM25(["the cat sat", "the dog sat on the dog mat", "a bird", "dog"])
    assert index.rank("dog", 10) == [3, 1]
    assert index.rank("cat dog", 2)[0] == 0
    assert index.rank("zebra", 10) == []


@pytest.mark.parametrize("store", ["recall", "archival"])
def test_benchmark_json_on_one_conversation(
    tmp_path: Path, store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The script prints a table and a last JSON line of sane scores for memgpt and BM25."""
    data = tmp_path / "slice.json"
    sample = small_sample()
    data.write_text(json.dumps([sample]))
    args = ["--data", str(data), "--store", store, "--embedder", "hashing", "--json"]
    assert bench().main(args) == 0
    stdout = capsys.readouterr().out
    lines = stdout.strip().splitlines()
    assert "LoCoMo retrieval" in stdout and "single-hop" in stdout
    scores = json.loads(lines[-1])
    assert set(scores) == {"memgpt", "bm25"}
    for who in scores.values():
        assert set(who) == {"all", "1", "2", "3", "4"}
        for category in who.values():
            assert set(category) == KEYS
            assert all(0.0 <= v <= 1.0 for v in category.values())
            assert category["recall@1"] <= category["recall@5"] <= category["recall@10"]
    assert scores["bm25"]["all"]["recall@10"] > 0.3
    assert scores["bm25"]["all"]["recall@1"] > 0
    assert scores["memgpt"]["all"]["recall@10"] > 0
    scored = sum(1 for q in sample["qa"] if q["category"] in (1, 2, 3, 4))
    assert f"{scored} questions scored" in stdout
    assert "'D' -> dropped" in stdout  # unusable ids are reported, not fatal


def test_help_as_a_script() -> None:
    """The script runs standalone; --help describes the options."""
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    for option in ("--data", "--store", "--embedder", "--json"):
        assert option in out.stdout
