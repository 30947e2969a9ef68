"""Tables of the shape of Mazaré et al. Tables 1, 3 and 4 on the data we have, with training speed.

    python benchmarks/retrieval_tables.py table1 --data DATASET_DIR [--encoders bow lstm transformer pretrained]
    python benchmarks/retrieval_tables.py table3 --reddit RC_FILE... [--setups ...] [--max-persona 1 5 100]
    python benchmarks/retrieval_tables.py table4 --data TARGET_DIR --pretrain DATASET_DIR... [--encoders bow]

Table 1: each encoder with and without the persona memory, and the IR baseline, trained and tested on one dataset.
Table 3: persona setups (rules, rules+classifier, random sentences) and persona sizes N, each a dataset built from
the same Reddit dump, with a bag-of-words ranker; hits@1 among 100.
Table 4: transfer: trained on the target only, on the other corpora only (tested zero-shot on the target), and
pre-trained on the others then fine-tuned on the target.

For PERSONA-CHAT with dialogues kept apart:

    confab data build ../shared/data/personachat/convai2_valid_self_original_part1.txt --examples paths \\
        --split-unit thread --valid-size 300 --test-size 800 --out build/pc

Each model is trained on the train split (best epoch by validation hits@1 of the first training dataset) and
ranked on the test split among the data's own candidates (PERSONA-CHAT: 20) or 100. Prints a markdown table
and, with --out, writes the rows as JSON.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from confab.data.build import Build, BuildConfig
from confab.data.schema import read_split
from confab.precision import PRECISIONS, machine
from confab.retrieval import checkpoint
from confab.retrieval.evaluate import evaluate
from confab.retrieval.model import RankerConfig
from confab.retrieval.score import RankerScorer, TfidfScorer
from confab.retrieval.train import RetrievalRun, train_retrieval
from confab.training import TrainConfig

# Per encoder: what trains well on a few thousand examples on 2 CPU cores.
SETTINGS = {
    "bow": dict(
        ranker=dict(share_encoders=True, similarity="cosine"), train=dict(epochs=20, batch_size=64, patience=4)
    ),
    "lstm": dict(ranker=dict(dropout=0.2), train=dict(epochs=15, batch_size=64, patience=3)),
    "transformer": dict(ranker=dict(layers=2, heads=2, dropout=0.2), train=dict(epochs=20, batch_size=64, patience=4)),
    "pretrained": dict(  # read as bundled:minilm reads the context and persona: it starts there
        ranker={k: v for k, v in checkpoint.ZERO_SHOT_RANKER.items() if k != "encoder"},
        train=dict(epochs=5, batch_size=64, lr=8e-5, optimizer="adamw", schedule="linear", warmup_steps=20),
    ),
}
# Pre-training sees more data per epoch: fewer epochs, bigger batches.
PRETRAIN = dict(epochs=10, batch_size=128, patience=3)
HEADER = "| hits@1 | hits@3 | hits@10 | MRR | epochs | train examples/s |"


def run_for(encoder: str, persona: bool, **train) -> RetrievalRun:
    s = SETTINGS[encoder]
    return RetrievalRun(
        ranker=RankerConfig(encoder=encoder, use_persona=persona, **s["ranker"]),
        train=TrainConfig(**{**s["train"], **train}),
    )


def train_and_test(datasets: list[Path], run: RetrievalRun, test: list[dict], n: int | None, out: Path) -> dict:
    """Train on `datasets`, keep the checkpoint in `out`, and rank `test`; metrics plus epochs and speed."""
    start = time.perf_counter()
    result = train_retrieval(datasets, run, out)
    seconds = time.perf_counter() - start
    model, tok, _ = checkpoint.load(out)
    metrics = evaluate(RankerScorer(model, tok, precision=run.train.precision), test, n=n)
    speed = result["steps"] * run.train.batch_size / sum(h["seconds"] for h in result["history"])
    return {
        **metrics,
        "epochs": len(result["history"]),
        "seconds": round(seconds),
        "train_examples_per_s": round(speed),
    }


def tfidf_row(data: Path, test: list[dict], n: int | None) -> dict:
    train_responses = read_split(data, "train", columns=["response"])["response"].to_pylist()
    return evaluate(TfidfScorer(train_responses), test, n=n)


def cells(m: dict) -> str:
    extra = f"{m['epochs']} | {m['train_examples_per_s']:,}" if "epochs" in m else "– | –"
    return f"{100 * m['hits@1']:.1f} | {100 * m['hits@3']:.1f} | {100 * m['hits@10']:.1f} | {m['mrr']:.3f} | {extra}"


def table1(args, tmp: Path) -> list[dict]:
    test = read_split(args.data, "test").to_pylist()
    rows = [{"model": "IR baseline (TF-IDF)", "persona": "no", **tfidf_row(args.data, test, args.candidates)}]
    for encoder in args.encoders:
        for persona in (False, True):
            tag, first = ("yes" if persona else "no"), len(rows)
            if encoder == "pretrained":  # the point it starts from: the encoder untrained, read the same way
                model, tok, _ = checkpoint.zero_shot(use_persona=persona)
                m = evaluate(RankerScorer(model, tok, precision=args.precision), test, n=args.candidates)
                rows.append({"model": "pretrained, untrained", "persona": tag, **m})
            m = train_and_test([args.data], run_for(encoder, persona, precision=args.precision), test, args.candidates,
                               tmp / "ck")
            rows.append({"model": encoder, "persona": tag, **m})
            print(*rows[first:], sep="\n", flush=True)
    print(f"\nhits@k among {rows[0]['candidates']} candidates, {args.data} test split ({len(test)} examples)\n"
          f"{machine()}\n")
    print("| model | persona " + HEADER + "\n|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['persona']} | {cells(r)} |")
    return rows


def table3(args, tmp: Path) -> list[dict]:
    rows = []
    for setup in args.setups:
        for size in args.max_persona:
            config = BuildConfig(inputs=[str(p) for p in args.reddit], persona=setup, max_persona=size,
                                 valid_size=args.valid_size, test_size=args.test_size)  # fmt: skip
            data = tmp / f"{setup}-{size}"
            report = Build(config, data).run()
            test = read_split(data, "test").to_pylist()
            n = min(args.candidates or 100, len({e["response"] for e in test}))  # a small dump has few
            m = train_and_test([data], run_for("bow", True, precision=args.precision), test, n, tmp / "ck")
            share = report["persona"]["train_share_with_persona"]
            rows.append({"setup": setup, "N": size, "examples": report["examples"]["total"], "linked": share, **m})
            print(rows[-1], flush=True)
    print(f"\nbow ranker with persona memory, hits@k among {rows[0]['candidates']}, test split of each build\n"
          f"{machine()}\n")
    print("| persona setup | N | examples | train examples with a persona " + HEADER)
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['setup']} | {r['N']} | {r['examples']:,} | {100 * r['linked']:.0f}% | {cells(r)} |")
    return rows


def table4(args, tmp: Path) -> list[dict]:
    test = read_split(args.data, "test").to_pylist()
    rows = [{"trained on": "IR baseline (TF-IDF)", "encoder": "–", "persona": "no",
             **tfidf_row(args.data, test, args.candidates)}]  # fmt: skip
    for encoder in args.encoders:
        for persona in (False, True):
            tag = "yes" if persona else "no"
            mine = run_for(encoder, persona, precision=args.precision)
            target = train_and_test([args.data], mine, test, args.candidates, tmp / "t")
            rows.append({"trained on": "target only", "encoder": encoder, "persona": tag, **target})
            pretrain = run_for(encoder, persona, **PRETRAIN, precision=args.precision)
            pre = train_and_test(args.pretrain, pretrain, test, args.candidates, tmp / "p")
            rows.append({"trained on": "other corpora only", "encoder": encoder, "persona": tag, **pre})
            tuned = replace(mine, init=str(tmp / "p"))
            ft = train_and_test([args.data], tuned, test, args.candidates, tmp / "f")
            rows.append({"trained on": "other corpora, then fine-tuned", "encoder": encoder, "persona": tag, **ft})
            print(*rows[-3:], sep="\n", flush=True)
    others = ", ".join(p.name for p in args.pretrain)
    print(f"\nTested on {args.data} (test split, {len(test)} examples, {rows[0]['candidates']} candidates); "
          f"other corpora: {others}\n{machine()}\n")  # fmt: skip
    print("| trained on | encoder | persona " + HEADER + "\n|---|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['trained on']} | {r['encoder']} | {r['persona']} | {cells(r)} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="table", required=True)
    for name in ("table1", "table3", "table4"):
        p = sub.add_parser(name)
        p.add_argument("--candidates", type=int, default=None, help="Rank among N drawn (default: the data's own)")
        p.add_argument("--out", type=Path, help="Write the rows as JSON here.")
        p.add_argument("--precision", default="auto", choices=PRECISIONS, help="as `confab train --precision`")
        if name in ("table1", "table4"):
            p.add_argument("--data", type=Path, required=True)
            p.add_argument("--encoders", nargs="+", default=["bow"] if name == "table4" else list(SETTINGS))
        if name == "table3":
            p.add_argument("--reddit", type=Path, nargs="+", required=True)
            p.add_argument("--setups", nargs="+", default=["rules", "rules+classifier", "random-from-user"])
            p.add_argument("--max-persona", type=int, nargs="+", default=[1, 5, 20, 100])
            p.add_argument("--valid-size", type=int, help="Examples held out for validation (default: the build's)")
            p.add_argument("--test-size", type=int, help="Examples held out for testing (default: the build's)")
        if name == "table4":
            p.add_argument("--pretrain", type=Path, nargs="+", required=True)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = {"table1": table1, "table3": table3, "table4": table4}[args.table](args, Path(tmp))
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
