"""Candidate-index search on 1,000,000 real-text vectors: HNSW query latency and recall@1 against exact search,
and batched exact search with faiss' default BLAS threshold against the one confab sets, in the same run.

    python benchmarks/index_speed.py --model CKPT_DIR [--size 1000000]

The pool is made of real sentences from ../shared/data (turns, candidates, titles); to reach the size, further
entries join two of them, so every vector is the encoding of real text by the given retrieval checkpoint.
Queries are 1,000 real contexts.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import faiss
import numpy as np

from confab.data.examples import examples_from_file
from confab.precision import PRECISIONS, machine
from confab.retrieval import checkpoint
from confab.retrieval.index import make_index
from confab.retrieval.score import RankerScorer

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
FILES = [
    ("personachat/convai2_valid_self_original_part1.txt", "parlai"),
    ("dailydialog/xdailydialog_en_dev_human.txt", "dailydialog"),
    ("topical_chat/valid_freq.json", "topicalchat"),
    ("knover_plato2/example_train.tsv", "knover"),
    ("dailydialog/dailydialog_plusplus_dev.json", "dailydialogpp"),
]


def real_texts() -> tuple[list[str], list[dict]]:
    texts, contexts = set(), []
    for name, fmt in FILES:
        for e in examples_from_file(SHARED / name, fmt):
            texts.add(e["response"])
            texts.update(e.get("candidates") or [])
            contexts.append(e)
    return sorted(texts), contexts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--ef-search", type=int, nargs="+", default=[256, 512, 1024, 2048])
    parser.add_argument("--ef-construction", type=int, default=200)
    parser.add_argument("--cache", type=Path, help="Save the encoded vectors here, or load them if present.")
    parser.add_argument("--precision", default="auto", choices=PRECISIONS, help="of the encoder")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    texts, contexts = real_texts()
    pool = list(texts)
    while len(pool) < args.size:
        a, b = rng.integers(len(texts), size=2)
        pool.append(f"{texts[a]} {texts[b]}")
    pool = pool[: args.size]
    chosen = rng.choice(len(contexts), size=args.queries, replace=False)
    if args.cache and (args.cache / "vectors.npy").exists():
        vectors, queries = np.load(args.cache / "vectors.npy"), np.load(args.cache / "queries.npy")
        encode_s = 0.0
    else:
        model, tok, _ = checkpoint.load(args.model)
        scorer = RankerScorer(model, tok, batch_size=256, precision=args.precision)
        start = time.perf_counter()
        vectors = np.concatenate(
            [scorer.encode_responses(pool[i : i + 65536]).float().numpy() for i in range(0, len(pool), 65536)]
        )
        encode_s = time.perf_counter() - start
        queries = scorer.encode_queries([contexts[i] for i in chosen]).vector.float().numpy()
        if args.cache:
            args.cache.mkdir(parents=True, exist_ok=True)
            np.save(args.cache / "vectors.npy", vectors)
            np.save(args.cache / "queries.npy", queries)
    print(machine())
    print(f"{len(texts):,} distinct real texts; pool {len(pool):,} x {vectors.shape[1]}; encoded in {encode_s:.0f} s")

    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(vectors)
    timings = {}
    for name, threshold in (("20 (faiss default: BLAS from 20 queries)", 20), ("never BLAS", 1 << 30)):
        faiss.cvar.distance_compute_blas_threshold = threshold
        start = time.perf_counter()
        best, truth = exact.search(queries, 1)
        timings[name] = time.perf_counter() - start
    start = time.perf_counter()
    hnsw = make_index(vectors, exact_max=0, ef_construction=args.ef_construction)
    build_s = time.perf_counter() - start
    faiss.omp_set_num_threads(1)  # one query at a time, as a chat server asks
    print(f"\nHNSW (M=32, efConstruction={args.ef_construction}) built in {build_s:.0f} s\n")
    print("| efSearch | p50 ms | p99 ms | recall@1 by id | recall@1 by score |")
    print("|---:|---:|---:|---:|---:|")
    for ef in args.ef_search:
        hnsw.hnsw.efSearch = ef
        latencies, found = [], []
        for q in queries:
            start = time.perf_counter()
            _, ids = hnsw.search(q[None, :], 1)
            latencies.append((time.perf_counter() - start) * 1000)
            found.append(ids[0, 0])
        recall = float(np.mean(np.array(found) == truth[:, 0]))
        # by score: a different id with the same score (a duplicate text, a tie) is as good an answer
        scores = np.einsum("ij,ij->i", vectors[np.array(found)], queries)
        by_score = float(np.mean(scores >= best[:, 0] - 1e-5 * np.abs(best[:, 0])))
        print(
            f"| {ef} | {np.percentile(latencies, 50):.2f} | {np.percentile(latencies, 99):.2f} | {recall:.3f} "
            f"| {by_score:.3f} |"
        )
    print(f"\nBatched exact search of {args.queries} queries over {len(pool):,}:\n")
    print("| distance_compute_blas_threshold | seconds |")
    print("|---|---:|")
    for name, seconds in timings.items():
        print(f"| {name} | {seconds:.2f} |")
    default, never = timings.values()
    print(f"\nnever-BLAS time / default time: {never / default:.2f}")


if __name__ == "__main__":
    main()
