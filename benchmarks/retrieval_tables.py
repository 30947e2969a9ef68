"""Tables of the shape of Mazaré et al. Table 1 (encoders with and without persona, and the IR baseline) on the
data we have, and the training speed of each encoder.

    python benchmarks/retrieval_tables.py --data DATASET_DIR [--encoders bow lstm transformer pretrained]

DATASET_DIR is a confab dataset; for PERSONA-CHAT with dialogues kept apart:

    confab data build ../shared/data/personachat/convai2_valid_self_original_part1.txt --examples paths \\
        --split-unit thread --valid-size 300 --test-size 800 --out build/pc

Each model is trained on the train split (best epoch by validation hits@1) and ranked on the test split among
the data's own candidates (PERSONA-CHAT: 20) or 100. Writes a markdown table to stdout and, with --out, a JSON.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from confab.data.schema import read_split
from confab.retrieval import checkpoint
from confab.retrieval.evaluate import evaluate
from confab.retrieval.model import RankerConfig
from confab.retrieval.score import RankerScorer, TfidfScorer
from confab.retrieval.train import RetrievalRun, train_retrieval
from confab.training import TrainConfig

# Per encoder: what trains well on a few thousand examples on 2 CPU cores.
SETTINGS = {
    "bow": dict(ranker=dict(), train=dict(epochs=20, batch_size=64, patience=4)),
    "lstm": dict(ranker=dict(dropout=0.2), train=dict(epochs=15, batch_size=64, patience=3)),
    "transformer": dict(ranker=dict(layers=2, heads=2, dropout=0.2), train=dict(epochs=20, batch_size=64, patience=4)),
    "pretrained": dict(
        ranker=dict(persona_encoder="encoder"),
        train=dict(epochs=3, batch_size=32, lr=5e-5, optimizer="adamw", bf16=True),
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--encoders", nargs="+", default=["bow", "lstm", "transformer", "pretrained"])
    parser.add_argument("--candidates", type=int, default=None)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    test = read_split(args.data, "test").to_pylist()
    train_responses = read_split(args.data, "train", columns=["response"])["response"].to_pylist()
    rows = [("IR baseline (TF-IDF)", "no", evaluate(TfidfScorer(train_responses), test, n=args.candidates), None)]
    for encoder in args.encoders:
        for persona in (False, True):
            s = SETTINGS[encoder]
            run = RetrievalRun(
                ranker=RankerConfig(encoder=encoder, use_persona=persona, **s["ranker"]),
                train=TrainConfig(**s["train"]),
            )
            with tempfile.TemporaryDirectory() as tmp:
                start = time.perf_counter()
                result = train_retrieval(args.data, run, Path(tmp) / "ck")
                seconds = time.perf_counter() - start
                model, tok, _ = checkpoint.load(Path(tmp) / "ck")
                metrics = evaluate(RankerScorer(model, tok), test, n=args.candidates)
            epochs = len(result["history"])
            speed = result["steps"] * run.train.batch_size / sum(h["seconds"] for h in result["history"])
            rows.append(
                (
                    encoder,
                    "yes" if persona else "no",
                    metrics,
                    {"epochs": epochs, "seconds": round(seconds), "train_examples_per_s": round(speed)},
                )
            )
            print(rows[-1], flush=True)
    n = rows[0][2]["candidates"]
    print(f"\nhits@k among {n} candidates on {args.data} (test split, {len(test)} examples)\n")
    print("| model | persona | hits@1 | hits@3 | hits@10 | MRR | epochs | train examples/s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name, persona, m, t in rows:
        extra = f"{t['epochs']} | {t['train_examples_per_s']:,}" if t else "– | –"
        print(
            f"| {name} | {persona} | {100 * m['hits@1']:.1f} | {100 * m['hits@3']:.1f} | {100 * m['hits@10']:.1f} "
            f"| {m['mrr']:.3f} | {extra} |"
        )
    if args.out:
        args.out.write_text(json.dumps([{"model": r[0], "persona": r[1], **r[2], **(r[3] or {})} for r in rows]))


if __name__ == "__main__":
    main()
