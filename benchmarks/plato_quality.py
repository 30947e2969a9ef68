"""PLATO-2 models side by side on data none of them was trained on: the shipped one beside the one it replaces.

    .venv/bin/python benchmarks/plato_quality.py \
        --model new=build/full/models/plato-2.1,evaluator=build/full/models/plato-2.2,stage1=build/full/models/plato-1 \
        --model old=OLD/plato2,evaluator=OLD/plato2-evaluator [--examples 300] [--out benchmarks/out/plato_quality]

For each model, on the ConvAI2 validation file (PERSONA-CHAT's validation dialogues with their personas, its own
20 candidates; ../shared/data) and DailyDialog++ dev (installed with confab):
- perplexity of the reference responses per token and per word (per word compares vocabularies of different sizes),
  and the latents its recognition network picks for them (used, usage entropy, collapse);
- the evaluator: accuracy against a random other response, hits@1 / MRR among the file's 20 candidates (TF-IDF
  beside it), DailyDialog++ P@1 and MAP with random and with adversarial negatives, with the stage-1 generator's
  log p(r|c) beside it when a stage 1 is given (the order of the paper's Table 8);
- candidates: for the first contexts, 20 candidates one per latent (stage 2.1) and 20 top-k samples (stage 1),
  their distinct-2 within the set and the evaluator's p(l=1|c,r) of its pick; the picks as replies: F1 against
  the reference, English words, persona use (confab.eval.generation), distinct-2 and latents chosen;
- replies to the 200 Vinyals & Le questions (written whole to the out folder; 20 picked by seed 0 printed).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
from pathlib import Path

import numpy as np
import torch

from confab.eval.compare import perplexity_of, ranking_results, selection_results
from confab.eval.generation import distinct, generation_metrics
from confab.eval.report import Table
from confab.eval.selfchat import vinyals_le_questions
from confab.generation import checkpoint
from confab.generation.agent import PlatoAgent
from confab.generation.data import BatchConfig, encode
from confab.generation.evaluate import evaluate_stage
from confab.generation.stages import Evaluation
from confab.io import atomic_write_json
from confab.precision import PRECISIONS, machine
from confab.resources import resource_path

CONVAI2 = Path(__file__).resolve().parents[1].parent / "shared/data/personachat/convai2_valid_self_original_part1.txt"
DDPP = resource_path("samples/dailydialog_plusplus_dev.json.gz")


def parse_model(spec: str) -> dict:
    name, _, rest = spec.partition("=")
    parts = rest.split(",")
    model = {"name": name, "generator": parts[0]}
    model |= dict(p.split("=", 1) for p in parts[1:])
    return model


def evaluator_accuracy(path: str, examples: list[dict], precision: str = "auto") -> float:
    """Coherence accuracy against random other responses, as stage 2.2's validation computes it."""
    model, tok, meta = checkpoint.load(path, precision)
    seqs = encode(examples, tok, checkpoint.limits_of(meta))
    metrics = evaluate_stage(Evaluation(model, mlm_weight=0.0), seqs, tok, BatchConfig(), seed=0)
    return metrics["accuracy"]


def candidate_sets(generator: str, evaluator: str, examples: list[dict], precision: str = "auto") -> dict:
    """The candidate sets' diversity, the evaluator's confidence in its pick, and the picked replies measured
    against the references and the personas (F1, English words, persona use, latents chosen)."""
    agent = PlatoAgent(generator, evaluator, precision=precision)
    sets, picks, texts, latents = [], [], [], []
    for i, e in enumerate(examples):
        torch.manual_seed(i)  # each context's sampling as in any other run
        reply = agent.respond(list(e["context"]), list(e.get("persona") or []))
        sets.append(distinct([c.text for c in reply.candidates], 2))
        picks.append(reply.candidates[0].score)
        texts.append(reply.text)
        latents.append(reply.candidates[0].info.get("z"))
    answers = generation_metrics(texts, [e["response"] for e in examples], latents,
                                 [list(e.get("persona") or []) for e in examples])  # fmt: skip
    return {"distinct-2 within the 20": statistics.mean(sets), "p(l=1) of the pick": statistics.mean(picks),
            "answers": answers}  # fmt: skip


def replies(generator: str, evaluator: str | None, out: Path, precision: str = "auto") -> list[dict]:
    agent = PlatoAgent(generator, evaluator, precision=precision)
    rows = []
    for i, question in enumerate(vinyals_le_questions()):
        torch.manual_seed(i)
        rows.append({"question": question, "reply": agent.respond([question], []).text})
    out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", required=True, help="NAME=GEN,evaluator=EVAL[,stage1=S1]")
    parser.add_argument("--examples", type=int, default=300, help="ConvAI2 examples scored (the first N)")
    parser.add_argument("--contexts", type=int, default=50, help="contexts whose candidate sets are compared")
    parser.add_argument("--selection", type=int, default=None, help="DailyDialog++ contexts (default: all)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/plato_quality"))
    parser.add_argument("--precision", default="auto", choices=PRECISIONS, help="of every model (perplexity: float32)")
    args = parser.parse_args()
    p = args.precision
    if not CONVAI2.exists():
        sys.exit(f"{CONVAI2}: not found (the shared data folder beside the project)")
    from confab.data.examples import examples_from_file

    examples = examples_from_file(CONVAI2, "parlai", kind="paths")[: args.examples]
    args.out.mkdir(parents=True, exist_ok=True)
    models = [parse_model(m) for m in args.model]
    results: dict = {}
    tfidf = ranking_results(["tfidf"], CONVAI2, "parlai", limit=args.examples)[0]
    results["tfidf"] = {"hits@1": tfidf["hits@1"], "mrr": tfidf["mrr"]}
    _, tfidf_sel = selection_results(["tfidf"], DDPP, ["random", "adversarial"], args.selection)
    results["tfidf"]["selection"] = tfidf_sel[0]["metrics"]
    for m in models:
        r = results[m["name"]] = {}
        for stage in ("stage1", "generator"):
            if stage in m:
                r[f"perplexity {stage}"] = perplexity_of(m[stage], examples)
        r["evaluator accuracy"] = evaluator_accuracy(m["evaluator"], examples, p)
        ranked = ranking_results([m["evaluator"]], CONVAI2, "parlai", precision=p, limit=args.examples)[0]
        r["evaluator hits@1"], r["evaluator mrr"] = ranked["hits@1"], ranked["mrr"]
        scorers = [m["evaluator"]] + ([m["stage1"]] if "stage1" in m else [])
        _, selection = selection_results(scorers, DDPP, ["random", "adversarial"], args.selection, p)
        r["selection"] = {s["score"]: s["metrics"] for s in selection}
        r["candidates 2.1"] = candidate_sets(m["generator"], m["evaluator"], examples[: args.contexts], p)
        if "stage1" in m:
            r["candidates stage 1"] = candidate_sets(m["stage1"], m["evaluator"], examples[: args.contexts], p)
        r["replies"] = replies(m["generator"], m["evaluator"], args.out / f"replies-{m['name']}.jsonl", p)
        atomic_write_json(args.out / "results.json", results)
    show(results, models)


def show(results: dict, models: list[dict]) -> None:
    ppl = Table("Perplexity of ConvAI2 validation responses", ["model", "stage", "per token", "per word",
                "latents used", "usage entropy", "collapse"], digits=2)  # fmt: skip
    for m in models:
        for stage in ("stage1", "generator"):
            p = results[m["name"]].get(f"perplexity {stage}")
            if p:
                ppl.rows.append([m["name"], p["stage"], p["ppl"], p["word_ppl"], p.get("latents_used"),
                                 p.get("usage_entropy"), p.get("latent_collapse")])  # fmt: skip
    ev = Table("The evaluator", ["model", "accuracy vs random", "hits@1 (20 cands)", "MRR", "DD++ P@1 random",
               "DD++ P@1 adversarial", "DD++ MAP random", "DD++ MAP adversarial"])  # fmt: skip
    t = results["tfidf"]
    ev.rows.append(["TF-IDF", None, t["hits@1"], t["mrr"], *selection_row(t["selection"])])
    for m in models:
        r = results[m["name"]]
        for score, metrics in r["selection"].items():
            if score == "p(l=1|c,r)":
                ev.rows.append([m["name"], r["evaluator accuracy"], r["evaluator hits@1"], r["evaluator mrr"],
                                *selection_row(metrics)])  # fmt: skip
            else:
                ev.rows.append([f"{m['name']} stage 1, {score}", None, None, None, *selection_row(metrics)])
    cands = Table("20 candidates per context, and the evaluator's pick as the reply",
                  ["model", "candidates", "distinct-2 within the set", "evaluator's p of the pick", "F1",
                   "English words", "persona use", "distinct-2 of the replies", "latents chosen"])  # fmt: skip
    for m in models:
        for key in ("candidates 2.1", "candidates stage 1"):
            c = results[m["name"]].get(key)
            if c:
                what = "one per latent (2.1)" if key.endswith("2.1") else "top-k samples (stage 1)"
                a = c["answers"]
                cands.rows.append([m["name"], what, c["distinct-2 within the 20"], c["p(l=1) of the pick"],
                                   100 * a["f1"], a["english_words"], a.get("persona_use"), a["distinct-2"],
                                   a.get("latents_chosen")])  # fmt: skip
    print(machine(), "\n")
    for table in (ppl, ev, cands):
        print(table.markdown(), "\n")
    picked = sorted(random.Random(0).sample(range(200), 20))
    for m in models:
        print(f"#### {m['name']}: replies to 20 of the 200 Vinyals & Le questions (seed 0)\n")
        for i in picked:
            row = results[m["name"]]["replies"][i]
            print(f"- {row['question']} → {row['reply']}")
        print()


def selection_row(metrics: dict) -> list:
    return [metrics["random"]["p@1"], metrics["adversarial"]["p@1"], metrics["random"]["map"],
            metrics["adversarial"]["map"]]  # fmt: skip


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
