"""Scores for answers: LoCoMo's token F1, BLEU-1, an LLM judge, and 95% confidence intervals.

F1 follows LoCoMo's evaluation (Maharana et al., 2024): commas dropped, lower case, punctuation
and the words a/an/the/and removed, Porter-stemmed tokens compared as bags; multi-hop answers
(category 1) are comma-separated parts each matched to the best predicted part, open-domain
answers (category 3) keep the part before the first ';', and an adversarial question
(category 5) scores 1 when the answer says the conversation does not tell. BLEU-1 is clipped
unigram precision times the brevity penalty, on the same normalised (unstemmed) tokens.

The judge prompt restates the rules of the J metric of the Mem0 paper (Chhikara et al., 2025),
which the LoCoMo figures quoted in the README use: the question, the gold answer and the
generated answer; be generous about length and wording as long as the answer is about the same
thing, and judge dates by the day or period they mean, not their format; a one-sentence reason,
then CORRECT or WRONG as JSON ``{"label": ...}``.
"""

from __future__ import annotations

import json
import math
import random
import re
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

_ARTICLES = re.compile(r"\b(a|an|the|and)\b")
_PUNCT = str.maketrans("", "", string.punctuation)
NOT_MENTIONED = ("no information available", "not mentioned")


def normalize(text: str) -> str:
    """LoCoMo's answer normalisation (before stemming)."""
    text = text.replace(",", "").lower().translate(_PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import snowballstemmer  # type: ignore[import-untyped]

    return snowballstemmer.stemmer("porter")


def _stems(text: str) -> list[str]:
    return list(_stemmer().stemWords(normalize(text).split()))


def token_f1(prediction: str, gold: str) -> float:
    """Bag-of-stems F1 of one prediction against one gold answer."""
    pred, ref = _stems(prediction), _stems(gold)
    same = sum((Counter(pred) & Counter(ref)).values())
    if not pred or not ref or same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


def locomo_f1(prediction: str, gold: str, category: int) -> float:
    """F1 as LoCoMo scores each question category."""
    if category == 5:
        said = prediction.lower()
        return 1.0 if any(p in said for p in NOT_MENTIONED) else 0.0
    if category == 3:
        gold = gold.split(";")[0].strip()
    if category == 1:
        parts = [p.strip() for p in prediction.split(",")] or [prediction]
        golds = [g.strip() for g in gold.split(",") if g.strip()] or [gold]
        return sum(max(token_f1(p, g) for p in parts) for g in golds) / len(golds)
    return token_f1(prediction, gold)


def bleu1(prediction: str, gold: str) -> float:
    """Sentence BLEU with unigrams only: clipped precision times the brevity penalty."""
    pred, ref = normalize(prediction).split(), normalize(gold).split()
    if not pred or not ref:
        return 0.0
    clipped = sum((Counter(pred) & Counter(ref)).values())
    if clipped == 0:
        return 0.0
    brevity = 1.0 if len(pred) > len(ref) else math.exp(1 - len(ref) / len(pred))
    return brevity * clipped / len(pred)


JUDGE_SYSTEM = "You grade answers to questions about past conversations. Follow the instructions exactly."

JUDGE_PROMPT = """Label a generated answer to a question as CORRECT or WRONG. You are given:
  (1) a question that one person asks about something they talked about with another person,
  (2) the gold answer (the ground truth),
  (3) the generated answer.

The gold answer is usually short and names what the question is about. The generated answer may
be much longer or worded differently: be generous. If it is about the same thing as the gold
answer, label it CORRECT.

For questions about time, the gold answer is a date, month, year or period. The generated answer
may be longer, formatted differently ("May 7th" or "7 May") or relative ("last Tuesday", "the
week before"): label it CORRECT if it means the same date or period as the gold answer.

Question: {question}
Gold answer: {gold}
Generated answer: {answer}

First give a one-sentence reason, then the label. Never write both CORRECT and WRONG.
End with the label as JSON with the key "label", e.g. {{"label": "CORRECT"}}."""


def judge_prompt(question: str, gold: str, answer: str) -> str:
    """The judge's user message for one item."""
    return JUDGE_PROMPT.format(question=question, gold=gold, answer=answer or "(no answer)")


def parse_label(text: str) -> bool | None:
    """CORRECT -> True, WRONG -> False, from the JSON label or else the last bare label; None if
    the judge said neither."""
    for found in reversed(re.findall(r"\{[^{}]*\}", text)):
        try:
            label = json.loads(found).get("label")
        except (ValueError, AttributeError):
            continue
        if isinstance(label, str) and label.strip().upper() in ("CORRECT", "WRONG"):
            return label.strip().upper() == "CORRECT"
    words = re.findall(r"\b(CORRECT|WRONG)\b", text.upper())
    return words[-1] == "CORRECT" if words else None


@dataclass(frozen=True)
class Interval:
    """A mean with its 95% confidence interval."""

    mean: float
    low: float
    high: float
    n: int
    method: str

    def as_dict(self) -> dict[str, Any]:
        """JSON form, rounded to 4 places."""
        return {"mean": round(self.mean, 4), "ci95": [round(self.low, 4), round(self.high, 4)],
                "n": self.n, "method": self.method}


def wilson(successes: int, n: int, z: float = 1.96) -> Interval:
    """Wilson score interval of a proportion (good at small n and near 0 or 1)."""
    if n == 0:
        return Interval(0.0, 0.0, 0.0, 0, "wilson")
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half), n, "wilson")


def bootstrap(values: Sequence[float], *, resamples: int = 1000, seed: int = 0) -> Interval:
    """Percentile bootstrap of the mean (seeded, so a report is reproducible)."""
    n = len(values)
    if n == 0:
        return Interval(0.0, 0.0, 0.0, 0, "bootstrap")
    mean = sum(values) / n
    rng = random.Random(seed)
    means = sorted(sum(rng.choices(values, k=n)) / n for _ in range(resamples))
    low, high = means[int(0.025 * resamples)], means[min(resamples - 1, int(0.975 * resamples))]
    return Interval(mean, min(low, mean), max(high, mean), n, "bootstrap")
