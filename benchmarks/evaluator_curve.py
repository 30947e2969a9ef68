"""How PLATO-2's evaluator grows with data: the dual evaluator and the paper's joint one with its masked-LM term,
each trained on the first 1k / 5k / 20k / all training pairs of the persona corpora, measured on data none saw.

    .venv/bin/python benchmarks/evaluator_curve.py [--data build/full/data/persona --data ...] \
        [--sizes 1000 5000 20000 0] [--coherence dual joint] [--examples 300] [--contexts 300]

The data are the demo's persona datasets (`confab demo --budget full` builds them: PERSONA-CHAT of the reference
code, XPersona, Synthetic-Persona-Chat); each run is stage 2.2 of the shipped recipe (from all-MiniLM-L6-v2, the
demo's limits and learning rate), only the data and the coherence reading changing. The compute is held roughly
even: max(1, 5,000 / size) epochs, at most 5, early stopping on the validation split. Every run resumes after a
kill and is skipped when done; the results gather in OUT/curve.json as they land. Measured: accuracy of
p(l=1|c,r) > 0.5 against a random other response and hits@1 among the 20 candidates on the ConvAI2 validation
file, P@1 with random and adversarial negatives on DailyDialog++ dev.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from plato_quality import CONVAI2, DDPP, evaluator_accuracy

from confab.eval.compare import ranking_results, selection_results
from confab.eval.report import Table
from confab.io import atomic_write_json
from confab.precision import PRECISIONS, machine

MLM = {"dual": 0.0, "joint": 1.0}  # the paper's evaluator learns coherence beside the masked LM


def train(data: list[Path], size: int, coherence: str, out: Path, precision: str) -> None:
    from confab.config import load_config, recipe
    from confab.generation.train import PlatoRun, train_plato

    epochs = max(1, min(5, 5000 // size)) if size else 1
    run = load_config(PlatoRun, recipe("shipped-plato-2.2"))  # the shipped evaluator's recipe, from the encoder
    run = replace(run, max_train=size or None, mlm_weight=MLM[coherence], coherence=coherence,
                  train=replace(run.train, epochs=epochs, precision=precision))
    train_plato(data, run, out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, action="append", help="dataset folders, in order (default: the full "
                        "demo's persona corpora under build/full/data)")  # fmt: skip
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 20000, 0], help="training pairs; 0: all")
    parser.add_argument("--coherence", nargs="+", default=["dual", "joint"], choices=list(MLM))
    parser.add_argument("--examples", type=int, default=300, help="ConvAI2 examples scored (the first N)")
    parser.add_argument("--contexts", type=int, default=300, help="DailyDialog++ contexts (the first N)")
    parser.add_argument("--precision", default="auto", choices=PRECISIONS)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/evaluator_curve"))
    args = parser.parse_args()
    data = args.data or [Path("build/full/data") / n for n in ("persona", "xpersona", "synthetic")]
    for d in [*data, CONVAI2]:
        if not d.exists():
            sys.exit(f"{d}: not found (`confab demo --budget full` builds the datasets; ConvAI2 is in the shared data)")
    from confab.data.examples import examples_from_file
    from confab.data.schema import read_split

    available = sum(read_split(d, "train").num_rows for d in data)
    examples = examples_from_file(CONVAI2, "parlai", kind="paths")[: args.examples]
    results_file = args.out / "curve.json"
    results = json.loads(results_file.read_text()) if results_file.exists() else {}
    table = Table(f"Evaluator accuracy by training pairs ({available:,} available)",
                  ["coherence", "pairs", "epochs", "accuracy vs random", "hits@1 (20 cands)", "DD++ P@1 random",
                   "DD++ P@1 adversarial"])  # fmt: skip
    for coherence in args.coherence:
        for size in args.sizes:
            key = f"{coherence}-{size or 'all'}"
            folder = args.out / key
            if key not in results:
                print(f"{key}: training", flush=True)
                train(data, size, coherence, folder, args.precision)
                ranked = ranking_results([str(folder)], CONVAI2, "parlai", precision=args.precision,
                                         limit=args.examples)[0]  # fmt: skip
                _, selection = selection_results([str(folder)], DDPP, ["random", "adversarial"], args.contexts,
                                                 args.precision)  # fmt: skip
                m = selection[0]["metrics"]
                results[key] = {"coherence": coherence, "pairs": min(size, available) if size else available,
                                "epochs": json.loads((folder / "config.json").read_text())["run"]["train"]["epochs"],
                                "accuracy": evaluator_accuracy(str(folder), examples, args.precision),
                                "hits@1": ranked["hits@1"], "p@1 random": m["random"]["p@1"],
                                "p@1 adversarial": m["adversarial"]["p@1"]}  # fmt: skip
                atomic_write_json(results_file, results)
            r = results[key]
            table.rows.append([coherence, r["pairs"], r["epochs"], r["accuracy"], r["hits@1"], r["p@1 random"],
                               r["p@1 adversarial"]])  # fmt: skip
            print(table.rows[-1], flush=True)
    print(f"\n{machine()}\n\n{table.markdown()}")


if __name__ == "__main__":
    main()
