"""Passages per second of the default local embedder vs the bare ONNX model, in one run.

The bare figure times only ``session.run`` on batches tokenized, sorted and padded beforehand
(the same batches the embedder builds), so the ratio is the embedder's overhead: tokenizing,
padding, pooling and normalising. Rounds alternate between the two to share machine noise.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

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

    def run_bare() -> None:
        for f in feeds:
            rt.session.run([rt.output_name], f)

    def run_full() -> None:
        embedder.embed(texts)

    run_bare()  # warm up
    run_full()
    bare, full = [], []
    for _ in range(args.rounds):
        bare.append(timed(run_bare))
        full.append(timed(run_full))

    n = len(texts)
    rows = [
        ("bare ONNX session.run (pre-tokenized)", min(bare), statistics.median(bare)),
        (f"{embedder.name} embed()", min(full), statistics.median(full)),
    ]
    print(f"{n} passages, {tokens / n:.0f} word pieces each on average, batch {args.batch_size}, "
          f"{embedder.threads} threads ({cpu_count()} cores), load {load:.2f}s")
    print(f"{'':40} {'best p/s':>10} {'median p/s':>11} {'ms/passage':>11}")
    for label, best, median in rows:
        print(f"{label:40} {n / best:10.1f} {n / median:11.1f} {1000 * best / n:11.2f}")
    print(f"ratio embed()/bare (best): {min(bare) / min(full):.3f}; "
          f"(median): {statistics.median(bare) / statistics.median(full):.3f}")


if __name__ == "__main__":
    main()
