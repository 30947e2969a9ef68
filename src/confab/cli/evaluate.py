"""`confab eval` and `confab selfchat`: evaluation protocols and metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from confab.cli.common import (
    AGENT_HELP,
    AgentDevice,
    AgentOption,
    AgentPrecision,
    AsJson,
    Device,
    Precision,
    ReportDir,
    device_or_fail,
    fail,
    finish,
    model_options,
    prepare,
)
from confab.errors import InvalidInput

MODEL_HELP = "a checkpoint folder or bundled:plato2 | bundled:retrieval"

app = typer.Typer(help="Evaluate models.", no_args_is_help=True)


@app.command("ranking")
def eval_ranking(
    ctx: typer.Context,
    model: Annotated[
        list[str], typer.Option(help="A retrieval or PLATO-2 checkpoint, or tfidf (repeatable: side by side).")
    ],
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
    max_examples: Annotated[int | None, typer.Option(help="Rank the first N examples only.")] = None,
    precision: Precision = "auto",
    device: Device = "auto",
    seed: int = 0,
    report: ReportDir = None,
    as_json: AsJson = False,
) -> None:
    """hits@k and MRR of each model (retrieval: its dot product or cosine; PLATO-2: its score; or the TF-IDF
    baseline) at ranking the correct response first (Mazaré et al. Table 1)."""
    from confab.eval.compare import ranking_results
    from confab.eval.report import Table

    ks = tuple(k or (1, 3, 10))
    folder, inputs = prepare("eval ranking", report, [data], scorers=model)
    results = ranking_results(model, data, format, split, candidates, ks, seed, precision, max_examples,
                              device_or_fail(device))
    n = results[0]["candidates"]
    table = Table(f"Ranking the correct response among {n} candidates: {data.name}",
                  ["model", *[f"hits@{x}" for x in ks], "MRR", "examples"],
                  [[r["model"], *[r[f"hits@{x}"] for x in ks], r["mrr"], r["n"]] for r in results])  # fmt: skip
    out = {"data": str(data), "split": split if format == "parquet" else None, "seed": seed, "results": results}
    finish(ctx, "eval ranking", out, [table], inputs, seed, folder, as_json)


@app.command("selection")
def eval_selection(
    ctx: typer.Context,
    model: Annotated[list[str], typer.Option(help="A PLATO-2 or retrieval checkpoint, or tfidf (repeatable).")],
    data: Annotated[Path, typer.Option(help="DailyDialog++ JSON lines (context, positive and negative responses).")],
    negatives: Annotated[
        list[str] | None, typer.Option(help="random | adversarial | both (repeatable; default: all three).")
    ] = None,
    max_contexts: Annotated[int | None, typer.Option(help="Score the first N contexts only.")] = None,
    precision: Precision = "auto",
    device: Device = "auto",
    report: ReportDir = None,
    as_json: AsJson = False,
) -> None:
    """Response selection (PLATO-2 appendix E, Table 8): MAP, MRR and P@1 of each model's scores at putting the
    positive responses first; the evaluation model's accuracy at 0.5. PLATO-2 checkpoints score by what they
    are: p(l|c,r) (stage 2.2), p(c|r) (backward stage 1), p(r|c) (stage 1)."""
    from confab import plots
    from confab.eval.compare import selection_results
    from confab.eval.report import Table
    from confab.eval.selection import NEGATIVES

    kinds = list(negatives or NEGATIVES)
    folder, inputs = prepare("eval selection", report, [data], scorers=model)
    contexts, results = selection_results(model, data, kinds, max_contexts, precision, device_or_fail(device))
    table = Table(f"Response selection on {data.name} ({contexts} contexts)",
                  ["model", "score", "negatives", "MAP", "MRR", "P@1", "accuracy"],
                  [[r["model"], r["score"], kind, m["map"], m["mrr"], m["p@1"], m.get("accuracy")]
                   for r in results for kind, m in r["metrics"].items()])  # fmt: skip

    def draw(folder: Path) -> list[str]:
        values = {f"{r['model']} ({r['score']})": {f"MAP {k}": m["map"] for k, m in r["metrics"].items()}
                  for r in results}  # fmt: skip
        plots.metric_bars(values, folder / "map.png", f"MAP on {data.name}")
        return ["map.png"]

    out = {"data": str(data), "contexts": contexts, "results": results}
    finish(ctx, "eval selection", out, [table], inputs, None, folder, as_json, draw)


@app.command("perplexity")
def eval_perplexity(
    ctx: typer.Context,
    model: Annotated[list[str], typer.Option(help=f"A PLATO-2 generator, stage 1 or 2.1: {MODEL_HELP} (repeatable).")],
    data: Annotated[Path, typer.Option(help="A dataset folder.")],
    split: str = "test",
    max_examples: Annotated[int | None, typer.Option(help="The first N examples of the split.")] = None,
    precision: Precision = "float32",
    device: Device = "auto",
    report: ReportDir = None,
    as_json: AsJson = False,
) -> None:
    """Perplexity of the reference responses, per subword token and per word (comparable across vocabularies;
    stage 2.1: with the latent its recognition network infers from the reference, as in training), and the spread
    of those latents."""
    from confab.eval.compare import perplexity_results
    from confab.eval.report import Table

    folder, inputs = prepare("eval perplexity", report, [data], checkpoints=model)
    results = perplexity_results(model, data, split, max_examples, precision, device_or_fail(device))
    columns = ["model", "stage", "perplexity (tokens)", "tokens", "perplexity (words)", "latents used"]
    rows = [[r["model"], r["stage"], r["ppl"], r["tokens"], r["word_ppl"], r.get("latents_used")] for r in results]
    table = Table(f"Perplexity on {data.name} {split}", columns, rows)
    out = {"data": str(data), "split": split, "results": results}
    finish(ctx, "eval perplexity", out, [table], inputs, None, folder, as_json)


@app.command("responses")
def eval_responses(
    ctx: typer.Context,
    agent: AgentOption,
    data: Annotated[Path, typer.Option(help="A dataset folder (its contexts, personas and references).")],
    out: Annotated[Path, typer.Option(help="The JSON-lines log to write (resumed when killed).")],
    split: str = "test",
    max_examples: Annotated[int, typer.Option(help="The first N examples of the split.")] = 200,
    precision: AgentPrecision = None,
    device: AgentDevice = None,
    seed: int = 0,
    report: ReportDir = None,
    quiet: bool = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as one JSON object.")] = False,
) -> None:
    """Answer the contexts of a dataset split and log every reply; prints distinct-1/2, length, F1 against the
    references and which latent values the evaluator chose."""
    from confab.agents import AgentSpec
    from confab.data.schema import read_split
    from confab.eval.responses import write_responses
    from confab.progress import progress_bars

    spec = AgentSpec.parse(agent)
    folder, inputs = prepare("eval responses", report, [data], agents=[spec])
    examples = read_split(data, split).to_pylist()[:max_examples]
    if not examples:
        raise InvalidInput(f"{data}: no {split} examples")
    answering = spec.load(**model_options(precision, device))
    with progress_bars(quiet) as bars:
        write_responses(answering, examples, out, seed, bars("responses", len(examples)))
    _log_report(ctx, "eval responses", out, inputs, seed, folder, as_json, quiet)


@app.command("generation")
def eval_generation(
    ctx: typer.Context,
    log: Annotated[Path, typer.Argument(help="A log of `confab eval responses`, `eval static` or `selfchat`.")],
    report: ReportDir = None,
    as_json: AsJson = False,
) -> None:
    """distinct-1/2, average length, F1 against references (when the log has them) and latent usage."""
    folder, inputs = prepare("eval generation", report, [log])
    _log_report(ctx, "eval generation", log, inputs, None, folder, as_json)


def _log_report(
    ctx: typer.Context,
    evaluation: str,
    log: Path,
    inputs: list,
    seed: int | None,
    folder: Path | None,
    as_json: bool,
    quiet: bool = False,
) -> None:
    """The metrics of a log of generated replies, printed and reported with a latent-usage plot; `inputs` and
    `folder` as `prepare` gave them (the log is checksummed as it ends)."""
    from confab import plots
    from confab.eval.report import Table
    from confab.eval.responses import log_metrics, read_log
    from confab.eval.static import metrics_table, static_metrics

    rows = read_log(log)
    if "replies" in rows[0]:  # a static evaluation: every agent's replies
        metrics = static_metrics(rows)
        finish(ctx, evaluation, metrics, [metrics_table(f"Generated text: {log.name}", metrics)],
               [*inputs, str(log)], seed, folder, as_json, quiet=quiet)  # fmt: skip
        return
    metrics = log_metrics(rows)
    shown = {k: v for k, v in metrics.items() if k != "latent_usage"}
    table = Table(f"Generated text: {log.name}", ["metric", "value"], [[k, v] for k, v in shown.items()])

    def draw(folder: Path) -> list[str]:
        if "latent_usage" not in metrics:
            return []
        plots.latent_usage(metrics["latent_usage"], folder / "latent_usage.png", f"latent usage: {log.name}")
        return ["latent_usage.png"]

    finish(ctx, evaluation, metrics, [table], [*inputs, str(log)], seed, folder, as_json, draw, quiet)


def selfchat(
    ctx: typer.Context,
    agent: Annotated[str, typer.Option(help=f"The agent (P2): {AGENT_HELP}")],
    out: Annotated[Path, typer.Option(help="The JSON-lines log to write (resumed when killed).")],
    partner: Annotated[str | None, typer.Option(help="Another agent as P1, named as --agent (default: the agent "
                                                     "itself).")] = None,  # fmt: skip
    seeds: Annotated[
        Path | None, typer.Option(help="Start utterances, one a line (default: the 200 Vinyals & Le questions).")
    ] = None,
    turns: Annotated[int, typer.Option(help="Utterances a dialogue, the start included (PLATO-2: 10).")] = 10,
    max_dialogues: Annotated[int | None, typer.Option(help="The first N starts only.")] = None,
    persona: Annotated[list[str] | None, typer.Option(help="P2's persona sentence (repeatable).")] = None,
    partner_persona: Annotated[list[str] | None, typer.Option(help="P1's persona sentence (repeatable).")] = None,
    precision: AgentPrecision = None,
    device: AgentDevice = None,
    seed: int = 0,
    report: ReportDir = None,
    quiet: bool = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as one JSON object.")] = False,
) -> None:
    """Self-chat (PLATO-2 section 3.4.1): the model talks with itself (or a partner) from each start utterance;
    logs every dialogue and prints distinct-1/2 and length of the generated utterances."""
    from confab.agents import AgentSpec
    from confab.eval.selfchat import read_starts, vinyals_le_questions, write_selfchats
    from confab.progress import progress_bars

    options = model_options(precision, device)
    specs = [AgentSpec.parse(agent)] + ([AgentSpec.parse(partner)] if partner else [])
    folder, inputs = prepare("selfchat", report, [seeds], agents=specs)
    starts = (read_starts(seeds) if seeds else vinyals_le_questions())[:max_dialogues]
    p2, p1 = (s.load(**options) for s in specs) if partner else (specs[0].load(**options), None)
    with progress_bars(quiet) as bars:
        write_selfchats(p2, starts, out, turns, p1, (list(partner_persona or []), list(persona or [])),
                        seed, (specs[0].model, specs[-1].model), bars("self-chats", len(starts)))  # fmt: skip
    _log_report(ctx, "selfchat", out, inputs, seed, folder, as_json, quiet)


table_app = typer.Typer(
    help="The papers' result tables for the models given (printed, and reported as markdown and JSON).",
    no_args_is_help=True,
)
app.add_typer(table_app, name="table")
MODELS_HELP = "A retrieval checkpoint (repeatable); the IR (TF-IDF) baseline is always added."
# options of Mazaré et al.'s Tables 1 and 3
TestedData = Annotated[Path, typer.Option(help="A dataset folder; its test split is ranked (paper: REDDIT).")]
PaperCandidates = Annotated[int, typer.Option(help="Candidates per example (paper: 100).")]
FirstTestExamples = Annotated[int | None, typer.Option(help="The first N test examples only.")]


def _paper_table(ctx: typer.Context, name: str, make, inputs: dict, seed: int | None,
                 folder: Path | None, as_json: bool, chart: str | None = None, skip: tuple = ()) -> None:  # fmt: skip
    """Compute a paper table from its inputs (`prepare`'s lists), then print and report it, with its number columns
    (less `skip`) as grouped bars in CHART.png."""
    from confab import plots

    folder, inputs = prepare(f"eval table {name}", folder, **inputs)
    table, results = make()

    def draw(folder: Path) -> list[str]:
        if not chart:
            return []
        shown = [c for c in table.columns[1:] if c not in skip]
        values = {str(r[table.columns[0]]): {c: r[c] for c in shown if isinstance(r[c], float)}
                  for r in table.records()}  # fmt: skip
        plots.metric_bars(values, folder / f"{chart}.png", table.title)
        return [f"{chart}.png"]

    out = {"table": name, "columns": table.columns, "rows": table.records(), "results": results}
    finish(ctx, f"eval table {name}", out, [table], inputs, seed, folder, as_json, draw)


@table_app.command("mazare1")
def table_mazare1(
    ctx: typer.Context,
    model: Annotated[list[str], typer.Option(help=MODELS_HELP)],
    data: TestedData,
    candidates: PaperCandidates = 100,
    max_examples: FirstTestExamples = None,
    precision: Precision = "auto",
    device: Device = "auto",
    seed: int = 0,
    report: ReportDir = None,
    as_json: AsJson = False,
) -> None:
    """Mazaré et al. Table 1: hits@1/3/10 of each encoder with and without persona, and the IR baseline."""
    from confab.eval.paper_tables import mazare_table1

    on = device_or_fail(device)
    _paper_table(ctx, "mazare1", lambda: mazare_table1(model, data, candidates, seed, precision, max_examples, on),
                 dict(data=[data], scorers=model), seed, report, as_json, "hits")  # fmt: skip


@table_app.command("mazare3")
def table_mazare3(
    ctx: typer.Context,
    model: Annotated[list[str], typer.Option(help="A retrieval checkpoint per persona selection (repeatable).")],
    data: TestedData,
    candidates: PaperCandidates = 100,
    max_examples: FirstTestExamples = None,
    precision: Precision = "auto",
    device: Device = "auto",
    seed: int = 0,
    report: ReportDir = None,
    as_json: AsJson = False,
) -> None:
    """Mazaré et al. Table 3: hits@1 by how the training personas were selected (read from each model's training
    dataset: N sentences at most, rules / rules + classifier / random from user / random from dataset)."""
    from confab.eval.paper_tables import mazare_table3

    on = device_or_fail(device)
    _paper_table(ctx, "mazare3", lambda: mazare_table3(model, data, candidates, seed, precision, max_examples, on),
                 dict(data=[data], scorers=model), seed, report, as_json, "hits_at_1")  # fmt: skip


@table_app.command("mazare4")
def table_mazare4(
    ctx: typer.Context,
    model: Annotated[list[str], typer.Option(help=MODELS_HELP)],
    data: Annotated[list[Path], typer.Option(help="Dataset folders, one column each (paper: PERSONA-CHAT, REDDIT).")],
    max_examples: Annotated[int | None, typer.Option(help="The first N test examples of each only.")] = None,
    precision: Precision = "auto",
    device: Device = "auto",
    seed: int = 0,
    report: ReportDir = None,
    as_json: AsJson = False,
) -> None:
    """Mazaré et al. Table 4: transfer, hits@1 of each model on each dataset's test split (among the data's own
    candidates, PERSONA-CHAT's 20, else 100)."""
    from confab.eval.paper_tables import mazare_table4

    on = device_or_fail(device)
    _paper_table(ctx, "mazare4", lambda: mazare_table4(model, data, seed, precision, max_examples, on),
                 dict(data=data, scorers=model), seed, report, as_json, "transfer")  # fmt: skip


@table_app.command("plato1")
def table_plato1(
    ctx: typer.Context,
    log: Annotated[list[Path], typer.Argument(help="Self-chat logs, one per system (named by the file name).")],
    human: Annotated[Path | None, typer.Option(help="The report.json of `confab human import`.")] = None,
    report: ReportDir = None,
    as_json: AsJson = False,
) -> None:
    """PLATO-2 Table 1: human coherence, informativeness, engagingness and humanness (when `--human` is given)
    beside distinct-1/2 and the average length of the self-chat logs."""
    from confab.eval.paper_tables import plato_table1

    _paper_table(
        ctx,
        "plato1",
        lambda: plato_table1(log, human),
        dict(data=[*log, human]),
        None,
        report,
        as_json,
        "selfchat",
        ("average length",),
    )


@table_app.command("plato8")
def table_plato8(
    ctx: typer.Context,
    model: Annotated[
        list[str],
        typer.Option(
            help="Scoring functions: PLATO-2 checkpoints (2.2, stage 1, backward), "
            "retrieval checkpoints or tfidf (repeatable)."
        ),
    ],  # fmt: skip
    data: Annotated[Path, typer.Option(help="DailyDialog++ JSON lines.")],
    negatives: Annotated[str, typer.Option(help="random | adversarial | both.")] = "both",
    max_contexts: Annotated[int | None, typer.Option(help="Score the first N contexts only.")] = None,
    precision: Precision = "auto",
    device: Device = "auto",
    report: ReportDir = None,
    as_json: AsJson = False,
) -> None:
    """PLATO-2 Table 8: MAP, MRR and P@1 of each scoring function in response selection."""
    from confab.eval.paper_tables import plato_table8
    from confab.eval.selection import NEGATIVES

    if negatives not in NEGATIVES:
        fail(f"--negatives must be one of {', '.join(NEGATIVES)}, not {negatives}")
    on = device_or_fail(device)
    _paper_table(ctx, "plato8", lambda: plato_table8(model, data, negatives, max_contexts, precision, on),
                 dict(data=[data], scorers=model), None, report, as_json, "selection")  # fmt: skip


@app.command("static")
def eval_static(
    ctx: typer.Context,
    contexts: Annotated[
        Path,
        typer.Argument(
            help="Contexts: JSON lines {context, persona, reference}, Knover TSV, "
            "ParlAI, or any format `data build` reads."
        ),
    ],  # fmt: skip
    agent: Annotated[
        list[str], typer.Option(help=f"[NAME=]{AGENT_HELP} (repeatable).")
    ],
    out: Annotated[Path, typer.Option(help="The JSON-lines log to write (resumed when killed).")],
    format: Annotated[str, typer.Option(help="The contexts' format (default: inferred).")] = "auto",
    max_contexts: Annotated[int | None, typer.Option(help="The first N contexts only.")] = None,
    seed: int = 0,
    report: ReportDir = None,
    quiet: bool = False,
    as_json: AsJson = False,
) -> None:
    """Static evaluation (PLATO-2 section 3.4.3): every agent answers the same contexts; a side-by-side table of
    replies and each agent's distinct-1/2, length and F1 against the references. `confab human export` turns the
    log into a form for annotators."""
    from confab.agents import AgentSpec
    from confab.eval.responses import read_log
    from confab.eval.static import metrics_table, read_contexts, side_by_side, static_metrics, write_static
    from confab.progress import progress_bars

    specs = [AgentSpec.parse(a) for a in agent]
    names = [s.name for s in specs]
    if len(set(names)) < len(names):
        raise InvalidInput(f"agent names {', '.join(names)} repeat: name them, e.g. --agent small=PATH")
    folder, inputs = prepare("eval static", report, [contexts], reads=lambda: [p for s in specs for p in s.reads()])
    items = read_contexts(contexts, format, max_contexts)
    agents = {s.name: s.load() for s in specs}
    with progress_bars(quiet) as bars:
        write_static(agents, items, out, seed, bars("contexts", len(items)))
    rows = read_log(out)
    metrics = static_metrics(rows)
    table = metrics_table(f"Static evaluation: {contexts.name} ({len(rows)} contexts)", metrics)
    result = {"contexts": str(contexts), "log": str(out), "agents": {s.name: s.model for s in specs},
              "metrics": metrics}  # fmt: skip
    finish(
        ctx, "eval static", result, [table, side_by_side(rows)], [*inputs, str(out)], seed, folder, as_json, quiet=quiet
    )
