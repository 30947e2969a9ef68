"""`confab eval` and `confab selfchat`: evaluation protocols and metrics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from confab.cli.common import PRECISION_HELP, console, fail

app = typer.Typer(help="Evaluate models.", no_args_is_help=True)


@app.command("ranking")
def eval_ranking(
    model: Annotated[str, typer.Option(help="A retrieval checkpoint folder, or tfidf.")],
    data: Annotated[Path, typer.Option(help="A dataset folder, or a file of a source format.")],
    format: Annotated[str, typer.Option(help="parquet (a dataset folder) or a source format, e.g. parlai")] = "parquet",
    split: Annotated[str, typer.Option(help="The split of a dataset folder.")] = "test",
    candidates: Annotated[
        int | None,
        typer.Option(
            help="Rank among N (the correct one + N-1 others of the split); default: the "
            "data's own candidates, else 100."
        ),
    ] = None,
    k: Annotated[list[int] | None, typer.Option("--k", help="hits@k for these k (repeatable).")] = None,
    seed: int = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """hits@k and MRR of a retrieval model (or the TF-IDF baseline) on ranking the correct response."""
    from confab.data.examples import examples_from_file
    from confab.data.schema import read_split
    from confab.retrieval import checkpoint
    from confab.retrieval.evaluate import evaluate
    from confab.retrieval.score import RankerScorer, TfidfScorer

    try:
        if format == "parquet":
            examples = read_split(data, split).to_pylist()
        else:
            examples = examples_from_file(data, format, kind="paths")
        if not examples:
            raise ValueError(f"{data}: no examples to rank")
        if model == "tfidf":
            corpus = _tfidf_corpus(data, format, examples)
            scorer = TfidfScorer(corpus)
        else:
            ranker, tokenizer, _ = checkpoint.load(model)
            scorer = RankerScorer(ranker, tokenizer)
        metrics = evaluate(scorer, examples, n=candidates, seed=seed, ks=tuple(k or (1, 3, 10)))
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        fail(str(e))
    metrics.update(model=model, data=str(data), split=split if format == "parquet" else None, seed=seed)
    if as_json:
        print(json.dumps(metrics))
    else:
        console.print(metrics, highlight=False)


@app.command("selection")
def eval_selection(
    model: Annotated[list[str], typer.Option(help="A PLATO-2 or retrieval checkpoint, or tfidf (repeatable).")],
    data: Annotated[Path, typer.Option(help="DailyDialog++ JSON lines (context, positive and negative responses).")],
    negatives: Annotated[
        list[str] | None, typer.Option(help="random | adversarial | both (repeatable; default: all three).")
    ] = None,
    max_contexts: Annotated[int | None, typer.Option(help="Score the first N contexts only.")] = None,
    precision: Annotated[str, typer.Option(help=PRECISION_HELP)] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Response selection (PLATO-2 appendix E): MAP, MRR and P@1 of each model's scores at putting the positive
    responses first; the evaluation model's accuracy at 0.5. PLATO-2 checkpoints score by what they are: p(l|c,r)
    (stage 2.2), p(c|r) (backward stage 1), p(r|c) (stage 1)."""
    from rich.table import Table

    from confab.eval.selection import NEGATIVES, evaluate_selection, read_selection
    from confab.scorers import load_scorer

    kinds = list(negatives or NEGATIVES)
    results = []
    try:
        items = read_selection(data, max_contexts)
        corpus = [t for it in items for t in [*it["context"], *it["positive"], *it["adversarial"], *it["random"]]]
        for name in model:
            scorer, scores, probabilities = load_scorer(name, corpus, precision)
            metrics = evaluate_selection(scorer, items, kinds, probabilities)
            results.append({"model": name, "score": scores, "metrics": metrics})
    except (ValueError, FileNotFoundError) as e:
        fail(str(e))
    if as_json:
        print(json.dumps({"data": str(data), "contexts": len(items), "results": results}))
        return
    table = Table(title=f"Response selection on {data.name} ({len(items)} contexts)")
    for column in ("model", "score", "negatives", "MAP", "MRR", "P@1", "accuracy"):
        table.add_column(column, justify="left" if column in ("model", "score", "negatives") else "right")
    for r in results:
        for kind, m in r["metrics"].items():
            accuracy = f"{m['accuracy']:.3f}" if "accuracy" in m else "-"
            table.add_row(r["model"], r["score"], kind, f"{m['map']:.3f}", f"{m['mrr']:.3f}", f"{m['p@1']:.3f}",
                          accuracy)  # fmt: skip
    console.print(table)


@app.command("responses")
def eval_responses(
    model: Annotated[Path, typer.Option(help="A PLATO-2 generator or a retrieval checkpoint.")],
    data: Annotated[Path, typer.Option(help="A dataset folder (its contexts, personas and references).")],
    out: Annotated[Path, typer.Option(help="The JSON-lines log to write (resumed when killed).")],
    evaluator: Annotated[Path | None, typer.Option(help="PLATO-2: the stage-2.2 evaluation model.")] = None,
    index: Annotated[Path | None, typer.Option(help="Retrieval: a candidate index.")] = None,
    split: str = "test",
    max_examples: Annotated[int, typer.Option(help="The first N examples of the split.")] = 200,
    precision: Annotated[str | None, typer.Option(help=PRECISION_HELP)] = None,
    seed: int = 0,
    quiet: bool = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as one JSON object.")] = False,
) -> None:
    """Answer the contexts of a dataset split and log every reply; prints distinct-1/2, length, F1 against the
    references and which latent values the evaluator chose."""
    from confab.agents import load_agent
    from confab.data.schema import read_split
    from confab.eval.responses import write_responses
    from confab.progress import progress_bars

    options = {} if precision is None else {"precision": precision}
    try:
        examples = read_split(data, split).to_pylist()[:max_examples]
        if not examples:
            raise ValueError(f"{data}: no {split} examples")
        agent = load_agent(model, index=index, evaluator=evaluator, **options)
        with progress_bars(quiet) as bars:
            write_responses(agent, examples, out, seed, bars("responses", len(examples)))
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        fail(str(e))
    eval_generation(out, as_json)


@app.command("generation")
def eval_generation(
    log: Annotated[Path, typer.Argument(help="A log of `confab eval responses` or `confab selfchat`.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """distinct-1/2, average length, F1 against references (when the log has them) and latent usage."""
    from confab.eval.generation import generation_metrics
    from confab.eval.responses import read_log
    from confab.eval.selfchat import generated_turns

    try:
        rows = read_log(log)
        if all("turns" in r for r in rows):  # self-chat: every generated utterance, no references
            generated = generated_turns(rows)
            metrics = generation_metrics([t["text"] for t in generated], None, [t.get("z") for t in generated])
        else:
            references = [r.get("reference") for r in rows]
            metrics = generation_metrics(
                [r["response"] for r in rows],
                references if all(isinstance(g, str) for g in references) else None,
                [r.get("z") for r in rows],
            )
    except (ValueError, FileNotFoundError) as e:
        fail(str(e))
    if as_json:
        print(json.dumps(metrics))
        return
    for key, value in metrics.items():
        if key == "latent_usage":
            value = " ".join(f"{z}:{share:.2f}" for z, share in value.items())
        shown = f"{value:.4f}" if isinstance(value, float) else value
        console.print(f"{key:>15}: {shown}", highlight=False)


def _tfidf_corpus(data: Path, format: str, examples: list[dict]) -> list[str]:
    """Document frequencies come from the training split when there is one, else from the data ranked."""
    from confab.data.schema import read_split

    if format == "parquet":
        train = read_split(data, "train", columns=["response"])["response"].to_pylist()
        if train:
            return train
    return [e["response"] for e in examples] + [c for e in examples for c in e.get("candidates") or []]


def selfchat(
    model: Annotated[Path, typer.Option(help="The agent (P2): a PLATO-2 generator or a retrieval checkpoint.")],
    out: Annotated[Path, typer.Option(help="The JSON-lines log to write (resumed when killed).")],
    evaluator: Annotated[Path | None, typer.Option(help="PLATO-2: the model's evaluation model.")] = None,
    index: Annotated[Path | None, typer.Option(help="Retrieval: the model's candidate index.")] = None,
    partner: Annotated[Path | None, typer.Option(help="Another agent as P1 (default: the model itself).")] = None,
    partner_evaluator: Annotated[Path | None, typer.Option(help="PLATO-2: the partner's evaluator.")] = None,
    partner_index: Annotated[Path | None, typer.Option(help="Retrieval: the partner's index.")] = None,
    seeds: Annotated[
        Path | None, typer.Option(help="Start utterances, one a line (default: the 200 Vinyals & Le questions).")
    ] = None,
    turns: Annotated[int, typer.Option(help="Utterances a dialogue, the start included (PLATO-2: 10).")] = 10,
    max_dialogues: Annotated[int | None, typer.Option(help="The first N starts only.")] = None,
    persona: Annotated[list[str] | None, typer.Option(help="P2's persona sentence (repeatable).")] = None,
    partner_persona: Annotated[list[str] | None, typer.Option(help="P1's persona sentence (repeatable).")] = None,
    precision: Annotated[str | None, typer.Option(help=PRECISION_HELP)] = None,
    seed: int = 0,
    quiet: bool = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as one JSON object.")] = False,
) -> None:
    """Self-chat (PLATO-2 section 3.4.1): the model talks with itself (or a partner) from each start utterance;
    logs every dialogue and prints distinct-1/2 and length of the generated utterances."""
    from confab.agents import load_agent
    from confab.eval.selfchat import read_starts, vinyals_le_questions, write_selfchats
    from confab.progress import progress_bars

    options = {} if precision is None else {"precision": precision}
    try:
        starts = (read_starts(seeds) if seeds else vinyals_le_questions())[:max_dialogues]
        agent = load_agent(model, index=index, evaluator=evaluator, **options)
        other = load_agent(partner, index=partner_index, evaluator=partner_evaluator, **options) if partner else None
        with progress_bars(quiet) as bars:
            write_selfchats(agent, starts, out, turns, other, (list(partner_persona or []), list(persona or [])),
                            seed, (str(model), str(partner or model)), bars("self-chats", len(starts)))  # fmt: skip
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        fail(str(e))
    eval_generation(out, as_json)
