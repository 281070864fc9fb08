"""Task data: LoCoMo conversations (read from the user's file) and nested key-value cases.

LoCoMo (Maharana et al., 2024; https://github.com/snap-research/locomo, ``data/locomo10.json``)
is CC BY-NC 4.0, so memgpt ships none of it: ``--data`` names the file. The nested key-value
cases need no download: by default they are generated from a fixed seed (140 random UUID pairs
and, per level, 100 chains of distinct records), the same construction as the MemGPT paper's
files, which ``--data`` can name instead (a folder with ``kv-retrieval-140_keys.jsonl`` or its
``.first_record.jsonl`` subset and ``random_orderings_100_samples_140_indices_{n}_levels.jsonl``).
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from memgpt.core.errors import InvalidRequestError

CATEGORIES = {1: "multi_hop", 2: "temporal", 3: "open_domain", 4: "single_hop", 5: "adversarial"}
ADVERSARIAL_GOLD = "Not mentioned in the conversation"


class EvalDataError(InvalidRequestError):
    """A task's data file is missing or not in the expected shape."""


@dataclass(frozen=True)
class Turn:
    speaker: str
    text: str
    dia_id: str


@dataclass(frozen=True)
class Session:
    number: int
    date_time: str
    turns: list[Turn]

    @property
    def moment(self) -> datetime:
        """The session's date as a UTC datetime (a fixed fallback spaced by session number
        when LoCoMo's "1:56 pm on 8 May, 2023" format does not parse)."""
        try:
            return datetime.strptime(self.date_time.strip(), "%I:%M %p on %d %B, %Y").replace(tzinfo=UTC)
        except ValueError:
            return datetime(2000, 1, 1, tzinfo=UTC) + timedelta(days=7 * self.number)


@dataclass(frozen=True)
class Question:
    index: int
    question: str
    answer: str
    category: int
    evidence: list[str]


@dataclass(frozen=True)
class Conversation:
    sample_id: str
    speaker_a: str
    speaker_b: str
    sessions: list[Session]
    questions: list[Question]


def _turn(raw: Any, where: str) -> Turn:
    if not isinstance(raw, dict) or not isinstance(raw.get("speaker"), str) or not isinstance(raw.get("text"), str):
        raise EvalDataError(f"{where}: a turn needs 'speaker' and 'text' strings")
    text = raw["text"]
    if isinstance(raw.get("blip_caption"), str):  # LoCoMo's shared photos, described in words
        text = f"{text} [shares a photo of {raw['blip_caption']}]"
    return Turn(raw["speaker"], text, str(raw.get("dia_id", "")))


def _questions(raw: Any, where: str) -> list[Question]:
    if not isinstance(raw, list):
        raise EvalDataError(f"{where}: 'qa' must be a list")
    out = []
    for i, q in enumerate(raw):
        if not isinstance(q, dict) or not isinstance(q.get("question"), str) or not isinstance(q.get("category"), int):
            raise EvalDataError(f"{where}: qa[{i}] needs a 'question' string and an integer 'category'")
        if q["category"] == 5:
            answer = ADVERSARIAL_GOLD
        elif "answer" not in q:
            raise EvalDataError(f"{where}: qa[{i}] has no 'answer'")
        else:
            answer = str(q["answer"])
        out.append(Question(i, q["question"], answer, q["category"], [str(e) for e in q.get("evidence") or []]))
    return out


def _conversation(raw: Any, n: int) -> Conversation:
    where = f"sample {n}"
    if not isinstance(raw, dict) or not isinstance(raw.get("conversation"), dict):
        raise EvalDataError(f"{where}: expected an object with 'conversation' and 'qa'")
    conv = raw["conversation"]
    sessions = []
    numbers = sorted(int(k.split("_")[1]) for k in conv if k.startswith("session_") and k.split("_")[1].isdigit()
                     and not k.endswith("date_time"))
    for number in numbers:
        turns = conv[f"session_{number}"]
        if not isinstance(turns, list):
            raise EvalDataError(f"{where}: session_{number} must be a list of turns")
        date = str(conv.get(f"session_{number}_date_time", ""))
        sessions.append(Session(number, date, [_turn(t, f"{where} session_{number}") for t in turns]))
    if not sessions:
        raise EvalDataError(f"{where}: the conversation has no session_N lists")
    return Conversation(str(raw.get("sample_id", f"conv-{n}")), str(conv.get("speaker_a", "A")),
                        str(conv.get("speaker_b", "B")), sessions, _questions(raw.get("qa", []), where))


def load_locomo(path: Path | None) -> list[Conversation]:
    """The conversations of a LoCoMo-format JSON file (a list of samples)."""
    if path is None:
        raise EvalDataError("this task needs --data: a LoCoMo JSON file, e.g. locomo10.json from "
                            "https://github.com/snap-research/locomo (CC BY-NC 4.0, not shipped with memgpt)")
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise EvalDataError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise EvalDataError(f"{path} is not JSON: {exc}") from exc
    if not isinstance(raw, list):
        raise EvalDataError(f"{path}: expected a JSON list of LoCoMo samples")
    return [_conversation(sample, n) for n, sample in enumerate(raw)]


# --- nested key-value ------------------------------------------------------------------------
KV_RECORDS = 140
KV_SAMPLES = 100
KV_SEED = 20231012  # the MemGPT paper's arXiv date: any fixed number would do


@dataclass(frozen=True)
class KVCase:
    """One nested lookup: passages for archival memory, the first key, and the final value."""

    level: int
    index: int
    passages: list[str]
    key: str
    answer: str


def generated_records(seed: int = KV_SEED) -> list[tuple[str, str]]:
    """140 (key, value) pairs of random UUIDs, the same on every machine and Python version."""
    rng = random.Random(seed)
    return [(str(uuid.UUID(int=rng.getrandbits(128), version=4)),
             str(uuid.UUID(int=rng.getrandbits(128), version=4))) for _ in range(KV_RECORDS)]


def generated_orderings(level: int, seed: int = KV_SEED) -> list[list[int]]:
    """100 chains of level + 1 distinct record indices for a nesting level."""
    rng = random.Random(seed * 10 + level)
    return [rng.sample(range(KV_RECORDS), level + 1) for _ in range(KV_SAMPLES)]


def _read_jsonl(path: Path) -> list[Any]:
    try:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except OSError as exc:
        raise EvalDataError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise EvalDataError(f"{path} is not JSON lines: {exc}") from exc


def _kv_from_folder(folder: Path, level: int) -> tuple[list[tuple[str, str]], list[list[int]]]:
    """The paper's files: the first record set, and the orderings with level + 1 indices."""
    names = ("kv-retrieval-140_keys.jsonl", "kv-retrieval-140_keys.first_record.jsonl")
    found = next((folder / n for n in names if (folder / n).is_file()), None)
    if found is None:
        raise EvalDataError(f"{folder} has neither of {', '.join(names)}")
    first = _read_jsonl(found)[:1]
    pairs = first[0].get("ordered_kv_records") if first and isinstance(first[0], dict) else None
    if not isinstance(pairs, list) or not all(isinstance(p, list) and len(p) == 2 for p in pairs):
        raise EvalDataError(f"{found}: the first line needs 'ordered_kv_records': [[key, value], ...]")
    orderings = _read_jsonl(folder / f"random_orderings_100_samples_140_indices_{level + 1}_levels.jsonl")
    if not all(isinstance(o, list) and len(o) == level + 1 and all(isinstance(i, int) and 0 <= i < len(pairs)
                                                                   for i in o) for o in orderings):
        raise EvalDataError(f"{folder}: orderings for level {level} must list {level + 1} record indices")
    return [(str(k), str(v)) for k, v in pairs], orderings


def build_case(records: list[tuple[str, str]], order: list[int], level: int, index: int) -> KVCase:
    """Passages where each chained record's value is the next record's key; the answer is the
    original value of the last record of the chain."""
    values = {i: v for i, (_, v) in enumerate(records)}
    for here, nxt in zip(order, order[1:]):
        values[here] = records[nxt][0]
    passages = [f"Key-value pair: key = {k}, value = {values[i]}" for i, (k, _) in enumerate(records)]
    return KVCase(level, index, passages, records[order[0]][0], records[order[-1]][1])


def kv_cases(level: int, data: Path | None, limit: int | None) -> list[KVCase]:
    """The cases of one nesting level (0: a plain lookup; n: n hops after the first)."""
    if not 0 <= level <= 6:
        raise EvalDataError(f"nesting levels are 0 to 6, not {level}")
    if data is None:
        records, orderings = generated_records(), generated_orderings(level)
    else:
        if not Path(data).is_dir():
            raise EvalDataError(f"--data for nested-kv is a folder of the paper's files; {data} is not one")
        records, orderings = _kv_from_folder(Path(data), level)
    chosen = orderings if limit is None else orderings[:limit]
    return [build_case(records, order, level, i) for i, order in enumerate(chosen)]
