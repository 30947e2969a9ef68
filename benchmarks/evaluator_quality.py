"""PLATO-2 evaluation models side by side on data none of them was trained on, with TF-IDF beside them.

    .venv/bin/python benchmarks/evaluator_quality.py EVAL_CKPT [EVAL_CKPT ...] [--examples 300] [--contexts 300]

For each evaluator: accuracy of p(l=1|c,r) > 0.5 against a random other response and hits@1 / MRR among the file's
20 candidates on the ConvAI2 validation file (../shared/data), P@1 with random and with adversarial negatives on
DailyDialog++ dev (installed with confab). Each reads the context its own limits say.
"""

from __future__ import annotations

import argparse
import sys

from plato_quality import CONVAI2, DDPP, evaluator_accuracy

from confab.eval.compare import ranking_results, selection_results
from confab.eval.report import Table
from confab.precision import PRECISIONS, machine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("evaluators", nargs="+")
    parser.add_argument("--examples", type=int, default=300, help="ConvAI2 examples scored (the first N)")
    parser.add_argument("--contexts", type=int, default=300, help="DailyDialog++ contexts (the first N)")
    parser.add_argument("--precision", default="auto", choices=PRECISIONS, help="of every evaluator")
    args = parser.parse_args()
    if not CONVAI2.exists():
        sys.exit(f"{CONVAI2}: not found (the shared data folder beside the project)")
    from confab.data.examples import examples_from_file

    examples = examples_from_file(CONVAI2, "parlai", kind="paths")[: args.examples]
    table = Table("Evaluators", ["evaluator", "accuracy vs random", "hits@1 (20 cands)", "MRR", "DD++ P@1 random",
                  "DD++ P@1 adversarial"])  # fmt: skip
    for scorer in ["tfidf", *args.evaluators]:
        accuracy = None if scorer == "tfidf" else evaluator_accuracy(scorer, examples, args.precision)
        ranked = ranking_results([scorer], CONVAI2, "parlai", precision=args.precision, limit=args.examples)[0]
        _, selection = selection_results([scorer], DDPP, ["random", "adversarial"], args.contexts, args.precision)
        m = selection[0]["metrics"]
        table.rows.append([scorer, accuracy, ranked["hits@1"], ranked["mrr"], m["random"]["p@1"],
                           m["adversarial"]["p@1"]])  # fmt: skip
        print(table.rows[-1], flush=True)
    print(f"\n{machine()}\n\n{table.markdown()}")


if __name__ == "__main__":
    main()
