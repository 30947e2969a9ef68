"""Ranking speed: the scorer of `confab eval ranking` (here `bundled:minilm`: each distinct text encoded once, in
length-sorted batches, bfloat16 where the CPU has it) against sentence-transformers' `encode` of the same texts,
in the same run, on ConvAI2 validation examples (20 candidates each).

    python benchmarks/ranking_speed.py [--max-examples 1000]

Peers: `SentenceTransformer.encode` of every text the examples need (each example's last two turns, its persona
sentences and its 20 candidates), as a script that encodes each example's texts would, and of the distinct texts
only (what a careful script does); both then score by dot products. Each row reports examples/s and, for the peers,
ours / theirs.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CONVAI2 = HERE.parents[1] / "shared" / "data" / "personachat" / "convai2_valid_self_original_part1.txt"


def ours(examples: list[dict], precision: str) -> tuple[float, dict]:
    from confab.retrieval.evaluate import evaluate
    from confab.scorers import load_scorer

    scorer, _, _ = load_scorer("bundled:minilm", [], precision=precision)
    start = time.perf_counter()
    metrics = evaluate(scorer, examples)
    return time.perf_counter() - start, {"hits@1": metrics["hits@1"], "encoded": scorer.encoded}


def peer(examples: list[dict], distinct: bool, batch_size: int) -> tuple[float, dict]:
    from sentence_transformers import SentenceTransformer

    from confab.bundled import pretrained_folder
    from confab.retrieval.evaluate import candidate_sets

    model = SentenceTransformer(str(pretrained_folder()), device="cpu")
    candidates, correct = candidate_sets(examples, None, 0)
    start = time.perf_counter()
    texts = [t for e, c in zip(examples, candidates, strict=True) for t in [*e["context"][-2:], *e["persona"], *c]]
    unique = list(dict.fromkeys(texts)) if distinct else texts
    vectors = model.encode(unique, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True)
    row = {t: i for i, t in enumerate(unique)} if distinct else None
    hits, at = 0, 0
    for e, cands, right in zip(examples, candidates, correct, strict=True):
        n = len(e["context"][-2:]) + len(e["persona"]) + len(cands)
        ids = [row[t] for t in texts[at : at + n]] if distinct else list(range(at, at + n))
        at += n
        turns, k = vectors[ids[: len(e["context"][-2:])]], len(e["context"][-2:])
        persona, cand = vectors[ids[k : k + len(e["persona"])]], vectors[ids[k + len(e["persona"]) :]]
        query = turns[-1] + (0.15 * turns[-2] if len(turns) > 1 else 0)
        scores = cand @ (query / np.linalg.norm(query))
        if len(persona):
            scores = scores + (persona @ cand.T).max(0)
        hits += int(scores.argmax() == right)
    return time.perf_counter() - start, {"hits@1": hits / len(examples), "encoded": len(unique)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=CONVAI2)
    parser.add_argument("--max-examples", type=int, default=1000)
    args = parser.parse_args()
    from confab.data.examples import examples_from_file

    examples = examples_from_file(args.data)[: args.max_examples]
    rows = [
        ("confab, bundled:minilm, auto precision", *ours(examples, "auto")),
        ("confab, bundled:minilm, float32", *ours(examples, "float32")),
        ("sentence-transformers encode, every text, batch 32", *peer(examples, False, 32)),
        ("sentence-transformers encode, distinct texts, batch 256", *peer(examples, True, 256)),
    ]
    best = len(examples) / rows[0][1]
    from confab.precision import machine

    print(f"\nRanking {len(examples):,} ConvAI2 examples (20 candidates each)\n{machine()}\n")
    print("| scorer | texts encoded | seconds | examples/s | hits@1 | confab (auto) / this |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, seconds, info in rows:
        rate = len(examples) / seconds
        print(f"| {name} | {info['encoded']:,} | {seconds:.1f} | {rate:,.1f} | {100 * info['hits@1']:.1f} "
              f"| {best / rate:.2f}× |")  # fmt: skip


if __name__ == "__main__":
    main()
