"""The `confab` command line: each subcommand is a thin call into the library."""

from __future__ import annotations

import glob
import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from confab.config import load_config

app = typer.Typer(help="confab: persona-grounded open-domain dialogue.", no_args_is_help=True)
data_app = typer.Typer(help="Build and inspect persona dialogue datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")
train_app = typer.Typer(help="Train models.", no_args_is_help=True)
app.add_typer(train_app, name="train")
PRECISION_HELP = "PLATO-2: auto (bfloat16 where the CPU has bfloat16 matrix units) | float32 | bfloat16."
eval_app = typer.Typer(help="Evaluate models.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")
index_app = typer.Typer(help="Candidate indexes for retrieval agents.", no_args_is_help=True)
app.add_typer(index_app, name="index")
tokenizer_app = typer.Typer(help="Subword vocabularies for the generative models.", no_args_is_help=True)
app.add_typer(tokenizer_app, name="tokenizer")
console = Console()


def _fail(message: str) -> None:
    Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(2)


def _expand(files: list[str]) -> list[str]:
    """Files as given; quoted globs (RC_2015-*.zst) are expanded here, in sorted order."""
    out = []
    for f in files:
        matches = sorted(glob.glob(f)) if any(c in f for c in "*?[") and not Path(f).exists() else [f]
        if not matches:
            _fail(f"no file matches {f}")
        out.extend(matches)
    return out


def _train(train, data: list[Path], run, out: Path, quiet: bool) -> None:
    """Run a trainer with progress bars; print its epochs and where the checkpoint went."""
    from confab.progress import progress_bars

    try:
        with progress_bars(quiet) as bars:
            result = train(data, run, out, bars)
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        _fail(str(e))
    if not quiet:
        for record in result["history"]:
            console.print(record, highlight=False)
        console.print(f"checkpoint: {out}")


@data_app.command("build")
def data_build(
    files: Annotated[list[str], typer.Argument(help="Input files or quoted globs.")],
    out: Annotated[Path, typer.Option(help="Output dataset folder.")],
    format: Annotated[
        str | None,
        typer.Option(
            help="pushshift|redditpairs|parlai|knover|dailydialog|dailydialogpp|topicalchat|jsonl (default: inferred)"
        ),
    ] = None,
    examples: Annotated[str | None, typer.Option(help="pairs (Mazaré) or paths (PLATO-2) (default: pairs)")] = None,
    persona: Annotated[
        str | None,
        typer.Option(
            help="none|source|rules|rules+classifier|random-from-user|random-from-dataset "
            "(default: source where files carry personas, else rules)"
        ),
    ] = None,
    max_persona: Annotated[int | None, typer.Option(help="At most N sentences per persona (default: 100)")] = None,
    split: Annotated[str | None, typer.Option(help="random or time (chronological) (default: random)")] = None,
    split_unit: Annotated[
        str | None, typer.Option(help="example, or thread: hold out whole threads/dialogues (default: example)")
    ] = None,
    valid_size: Annotated[int | None, typer.Option(help="(default: 50,000, or 5% of the examples if fewer)")] = None,
    test_size: Annotated[int | None, typer.Option(help="(default: 50,000, or 5% of the examples if fewer)")] = None,
    seed: Annotated[int | None, typer.Option(help="(default: 0)")] = None,
    clean: Annotated[
        bool | None,
        typer.Option("--clean/--no-clean", help="PLATO-2 cleaning (default: on for pushshift and jsonl only)"),
    ] = None,
    skip_rule: Annotated[list[str] | None, typer.Option(help="Turn one cleaning rule off (repeatable).")] = None,
    offensive: Annotated[Path | None, typer.Option(help="Offensive-word list, one a line.")] = None,
    quarantined: Annotated[Path | None, typer.Option(help="Quarantined subreddits, one a line.")] = None,
    bots: Annotated[Path | None, typer.Option(help="Bot accounts, one a line.")] = None,
    persona_sentences: Annotated[
        Path | None, typer.Option(help="Positives for rules+classifier: text lines, or a ParlAI file.")
    ] = None,
    classifier_threshold: Annotated[float | None, typer.Option(help="(default: 0.5)")] = None,
    truncate_tokens: Annotated[int | None, typer.Option(help="Cut texts after N tokens (default: 100)")] = None,
    max_context_turns: Annotated[int | None, typer.Option(help="Keep the last N context turns (default: all)")] = None,
    dictionary_size: Annotated[int | None, typer.Option(help="Tokens in dict.tsv (default: 250,000)")] = None,
    partition_mb: Annotated[
        float | None, typer.Option(help="Uncompressed input per partition; bounds memory (default: 128)")
    ] = None,
    config: Annotated[Path | None, typer.Option(help="A saved config.json to start from; flags override it.")] = None,
    quiet: bool = False,
) -> None:
    """Build a persona dialogue dataset (Parquet) from raw files."""
    from confab.data.build import BuildConfig

    given = {
        "format": format, "examples": examples, "persona": persona, "max_persona": max_persona, "split": split,
        "split_unit": split_unit,
        "valid_size": valid_size, "test_size": test_size, "seed": seed,
        "persona_sentences": str(persona_sentences) if persona_sentences else None,
        "classifier_threshold": classifier_threshold, "truncate_tokens": truncate_tokens,
        "max_context_turns": max_context_turns, "dictionary_size": dictionary_size, "partition_mb": partition_mb,
    }  # fmt: skip
    clean_given = {
        "enabled": clean,
        "offensive_words": str(offensive) if offensive else None,
        "quarantined_subreddits": str(quarantined) if quarantined else None,
        "bots": str(bots) if bots else None,
    }
    try:
        base = load_config(BuildConfig, config) if config else BuildConfig(inputs=[])
        clean_config = replace(
            base.clean,
            skip=sorted(set(base.clean.skip) | set(skip_rule or [])),
            **{k: v for k, v in clean_given.items() if v is not None},
        )
        cfg = replace(
            base, inputs=_expand(files), clean=clean_config, **{k: v for k, v in given.items() if v is not None}
        )
        if cfg.examples not in ("pairs", "paths"):
            raise ValueError(f"--examples must be pairs or paths, not {cfg.examples}")
        if cfg.split not in ("random", "time"):
            raise ValueError(f"--split must be random or time, not {cfg.split}")
        if cfg.split_unit not in ("example", "thread"):
            raise ValueError(f"--split-unit must be example or thread, not {cfg.split_unit}")
    except (ValueError, OSError) as e:
        _fail(str(e))
    _run_build(cfg, out, quiet)


def _run_build(cfg, out: Path, quiet: bool) -> None:
    from confab.data.build import Build
    from confab.progress import progress_bars

    try:
        with progress_bars(quiet) as bars:
            Build(cfg, out, bars).run()
    except (ValueError, FileNotFoundError, FileExistsError, RuntimeError) as e:
        _fail(str(e))
    if not quiet:
        console.print((out / "report.md").read_text(), highlight=False)


@data_app.command("show")
def data_show(
    dataset: Annotated[Path, typer.Argument(help="A dataset folder made by `confab data build`.")],
    split: str = "train",
    n: Annotated[int, typer.Option("-n", help="How many examples.")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object a line.")] = False,
) -> None:
    """Print examples of a dataset."""
    from confab.data.schema import iter_examples

    try:
        rows = iter_examples(dataset, split)
        for i, row in enumerate(rows):
            if i >= n:
                break
            if as_json:
                print(json.dumps(row, ensure_ascii=False))
            else:
                _print_example(row)
    except (ValueError, FileNotFoundError) as e:
        _fail(str(e))


def _print_example(row: dict) -> None:
    where = " · ".join(str(x) for x in (row["id"], row["subreddit"], row["response_author"]) if x)
    console.rule(where, style="dim")
    for sentence in row["persona"][:5]:
        console.print(f"  [magenta]persona[/]  {sentence}", highlight=False)
    if len(row["persona"]) > 5:
        console.print(f"  [magenta]persona[/]  … {len(row['persona']) - 5} more", highlight=False)
    for turn in row["context"][-4:]:
        console.print(f"  [cyan]context[/]  {turn}", highlight=False)
    console.print(f"  [green]response[/] {row['response']}", highlight=False)


@train_app.command("retrieval")
def train_retrieval(
    data: Annotated[
        list[Path],
        typer.Option(
            help="Dataset folder(s) made by `confab data build`; repeat to train on several "
            "(validation: the first one's)."
        ),
    ],
    out: Annotated[Path, typer.Option(help="Checkpoint folder to write.")],
    encoder: Annotated[str, typer.Option(help="bow|lstm|transformer|pretrained")] = "transformer",
    persona: Annotated[bool, typer.Option("--persona/--no-persona", help="Use the persona memory.")] = True,
    persona_encoder: Annotated[
        str,
        typer.Option(
            help="bow (the paper's: linear on word embeddings, summed), encoder (the context encoder), or auto: "
            "encoder for the pretrained encoder, else bow"
        ),
    ] = "auto",
    share_encoders: Annotated[
        bool, typer.Option(help="One encoder for context and response (the paper: two, sharing embeddings).")
    ] = False,
    similarity: Annotated[
        str, typer.Option(help="dot (the paper's) or cosine (x20; how the pretrained encoder was trained)")
    ] = "dot",
    epochs: int = 10,
    batch_size: Annotated[int, typer.Option(help="Examples per batch; the others are the negatives.")] = 512,
    lr: float = 8e-4,
    optimizer: Annotated[str, typer.Option(help="adamax (the paper's), adam or adamw")] = "adamax",
    layers: Annotated[int, typer.Option(help="Transformer layers (paper: 4 on Reddit, 2 on PERSONA-CHAT).")] = 4,
    heads: Annotated[int, typer.Option(help="Transformer heads (paper: 6 on Reddit, 2 on PERSONA-CHAT).")] = 6,
    embedding_dim: int = 300,
    dropout: float = 0.1,
    patience: Annotated[int, typer.Option(help="Stop after N epochs without a better validation hits@1.")] = 0,
    bf16: Annotated[bool, typer.Option(help="bfloat16 autocast.")] = False,
    fasttext: Annotated[Path | None, typer.Option(help="FastText .vec file to initialise the embeddings.")] = None,
    init: Annotated[
        Path | None, typer.Option(help="Fine-tune this checkpoint (its model options and vocabulary are kept).")
    ] = None,
    tensorboard: Annotated[Path | None, typer.Option(help="Also write TensorBoard events to this folder.")] = None,
    seed: int = 0,
    quiet: bool = False,
) -> None:
    """Train a persona-conditioned retrieval model (Mazaré et al.)."""
    from confab.retrieval.model import RankerConfig
    from confab.retrieval.train import RetrievalRun, train_retrieval
    from confab.training import TrainConfig

    if encoder not in ("bow", "lstm", "transformer", "pretrained"):
        _fail(f"--encoder must be bow, lstm, transformer or pretrained, not {encoder}")
    if similarity not in ("dot", "cosine"):
        _fail(f"--similarity must be dot or cosine, not {similarity}")
    if persona_encoder == "auto":
        persona_encoder = "encoder" if encoder == "pretrained" else "bow"
    if persona_encoder not in ("bow", "encoder"):
        _fail(f"--persona-encoder must be bow, encoder or auto, not {persona_encoder}")
    if optimizer not in ("adamax", "adam", "adamw"):
        _fail(f"--optimizer must be adamax, adam or adamw, not {optimizer}")
    run = RetrievalRun(
        ranker=RankerConfig(encoder=encoder, use_persona=persona, embedding_dim=embedding_dim, layers=layers,
                            heads=heads, dropout=dropout, persona_encoder=persona_encoder,
                            share_encoders=share_encoders, similarity=similarity),
        train=TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer, bf16=bf16, seed=seed,
                          patience=patience, log_every=10 if tensorboard else 0,
                          tensorboard=str(tensorboard) if tensorboard else None),
        fasttext=str(fasttext) if fasttext else None,
        init=str(init) if init else None,
    )  # fmt: skip
    _train(train_retrieval, list(data), run, out, quiet)


@eval_app.command("ranking")
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
        _fail(str(e))
    metrics.update(model=model, data=str(data), split=split if format == "parquet" else None, seed=seed)
    if as_json:
        print(json.dumps(metrics))
    else:
        console.print(metrics, highlight=False)


@eval_app.command("selection")
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
        _fail(str(e))
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


@eval_app.command("responses")
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
        _fail(str(e))
    eval_generation(out, as_json)


@eval_app.command("generation")
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
        _fail(str(e))
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


@index_app.command("build")
def index_build(
    model: Annotated[Path, typer.Option(help="A retrieval checkpoint folder.")],
    data: Annotated[list[Path], typer.Option(help="Dataset folders (all splits' responses) or source files.")],
    out: Annotated[Path, typer.Option(help="Index folder to write.")],
    max_tokens: Annotated[int | None, typer.Option(help="Keep responses of at most N tokens (paper: 10).")] = None,
    exact_max: Annotated[
        int, typer.Option(help="Exact search up to this many responses; HNSW above (cosine models only).")
    ] = 200_000,
    quiet: bool = False,
) -> None:
    """Encode a pool of candidate responses and index them for search (resumable)."""
    from confab.progress import progress_bars
    from confab.retrieval import checkpoint
    from confab.retrieval.index import build_index, collect_responses
    from confab.retrieval.score import RankerScorer

    try:
        ranker, tokenizer, _ = checkpoint.load(model)
        scorer = RankerScorer(ranker, tokenizer)
        responses = collect_responses(_responses_of(data), max_tokens)
        if not responses:
            raise ValueError("no responses to index")
        with progress_bars(quiet) as bars:
            build_index(
                responses,
                lambda texts: scorer.encode_responses(texts).float().numpy(),
                out,
                exact_max,
                bars,
                {"model": str(model), "data": [str(d) for d in data], "max_tokens": max_tokens},
                unit_vectors=ranker.config.similarity == "cosine",
            )
    except (ValueError, FileNotFoundError, FileExistsError, RuntimeError) as e:
        _fail(str(e))
    if not quiet:
        console.print(f"indexed {len(responses):,} responses in {out}")


def _responses_of(paths: list[Path]):
    from confab.data.examples import examples_from_file
    from confab.data.schema import SPLITS, iter_examples

    for path in paths:
        if path.is_dir():
            for split in SPLITS:
                for row in iter_examples(path, split):
                    yield row["response"]
        else:
            for example in examples_from_file(path):
                yield example["response"]


@app.command()
def chat(
    model: Annotated[Path, typer.Option(help="A retrieval checkpoint, or a PLATO-2 generator (stage 2.1 or 1).")],
    index: Annotated[Path | None, typer.Option(help="Retrieval: an index made by `confab index build`.")] = None,
    evaluator: Annotated[Path | None, typer.Option(help="PLATO-2: the stage-2.2 model that ranks candidates.")] = None,
    persona: Annotated[list[str] | None, typer.Option(help="A persona sentence (repeatable).")] = None,
    precision: Annotated[str | None, typer.Option(help=PRECISION_HELP)] = None,
) -> None:
    """Talk to an agent in the terminal. /help lists the commands."""
    from confab.agents import load_agent
    from confab.chat import run_chat

    options = {} if precision is None else {"precision": precision}
    try:
        agent = load_agent(model, index=index, evaluator=evaluator, **options)
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        _fail(str(e))
    run_chat(agent, list(persona or []), console)


@app.command()
def respond(
    model: Annotated[Path, typer.Option(help="A retrieval checkpoint, or a PLATO-2 generator.")],
    index: Annotated[Path | None, typer.Option(help="Retrieval: a candidate index.")] = None,
    evaluator: Annotated[Path | None, typer.Option(help="PLATO-2: the stage-2.2 evaluation model.")] = None,
    persona: Annotated[list[str] | None, typer.Option(help="A persona sentence (repeatable).")] = None,
    ranking: Annotated[str | None, typer.Option(help="PLATO-2: evaluator | loglik | backward.")] = None,
    backward: Annotated[
        Path | None, typer.Option(help="PLATO-2: a backward model p(c|r) for --ranking backward.")
    ] = None,
    precision: Annotated[str | None, typer.Option(help=PRECISION_HELP)] = None,
) -> None:
    """Answer one context read from standard input (one turn a line, oldest first); prints JSON with the
    response and the ranked candidates."""
    import sys

    from confab.agents import load_agent

    history = [line.strip() for line in sys.stdin if line.strip()]
    if not history:
        _fail("standard input is empty: give the context, one turn a line")
    options = {"ranking": ranking, "backward": backward, "precision": precision}
    options = {k: v for k, v in options.items() if v is not None}
    try:
        agent = load_agent(model, index=index, evaluator=evaluator, **options)
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        _fail(str(e))
    reply = agent.respond(history, list(persona or []))
    candidates = [{"text": c.text, "score": c.score, **c.info} for c in reply.candidates]
    print(json.dumps({"response": reply.text, "candidates": candidates, "seconds": round(reply.seconds, 3)}))


@app.command()
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
        _fail(str(e))
    eval_generation(out, as_json)


@tokenizer_app.command("train")
def tokenizer_train(
    data: Annotated[list[Path], typer.Option(help="Dataset folder(s); their train splits are read.")],
    out: Annotated[Path, typer.Option(help="Folder to write the BPE model to.")],
    vocab_size: Annotated[int, typer.Option(help="BPE vocabulary size (PLATO-2: 8,000).")] = 8000,
) -> None:
    """Train a SentencePiece BPE vocabulary on the persona, context and response texts of datasets."""
    from confab.data.schema import read_split
    from confab.generation.train import training_texts
    from confab.text.bpe import BpeTokenizer

    try:
        rows = [r for d in data for r in read_split(d, "train").to_pylist()]
        tok = BpeTokenizer.train(training_texts(rows), vocab_size)
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        _fail(str(e))
    tok.save(out)
    console.print(f"{len(tok):,} tokens: {out}")


@train_app.command("plato")
def train_plato(
    data: Annotated[list[Path], typer.Option(help="Dataset folder(s); validation: the first one's.")],
    out: Annotated[Path, typer.Option(help="Checkpoint folder to write.")],
    stage: Annotated[str, typer.Option(help="1 (generation), 2.1 (latent generation) or 2.2 (evaluation)")] = "1",
    config: Annotated[str, typer.Option(help="Model size: tiny|small|93M|314M|1.6B (stage 1).")] = "small",
    init: Annotated[
        Path | None, typer.Option(help="Start from this checkpoint (stages 2.x: the stage-1 model).")
    ] = None,
    tokenizer: Annotated[Path | None, typer.Option(help="A BPE folder (default: trained on the data).")] = None,
    vocab_size: int = 8000,
    epochs: int = 10,
    lr: float = 1e-3,
    warmup_steps: int = 100,
    tokens_per_step: Annotated[int, typer.Option(help="Tokens per optimiser step (accumulated).")] = 8192,
    max_tokens: Annotated[int, typer.Option(help="Padded tokens per micro-batch (bounds memory).")] = 4096,
    max_context: int = 128,
    max_persona: int = 64,
    max_response: int = 128,
    max_train: Annotated[int | None, typer.Option(help="Train on the first N examples only.")] = None,
    patience: Annotated[int, typer.Option(help="Stop after N epochs without a better validation score.")] = 0,
    bf16: Annotated[bool, typer.Option(help="bfloat16 autocast.")] = False,
    gradient_checkpointing: bool = False,
    backward: Annotated[bool, typer.Option(help="Stage 1: a backward model p(c|r) for MMI ranking.")] = False,
    dropout: float = 0.1,
    tensorboard: Annotated[Path | None, typer.Option(help="Also write TensorBoard events to this folder.")] = None,
    seed: int = 0,
    quiet: bool = False,
) -> None:
    """Train one stage of PLATO-2's curriculum."""
    from confab.generation.batches import Limits
    from confab.generation.data import BatchConfig
    from confab.generation.train import PlatoRun
    from confab.generation.train import train_plato as run_training
    from confab.training import TrainConfig

    run = PlatoRun(
        stage=stage, size=config, vocab_size=vocab_size, limits=Limits(max_context, max_persona, max_response),
        batch=BatchConfig(max_tokens=max_tokens, tokens_per_step=tokens_per_step),
        train=TrainConfig(epochs=epochs, lr=lr, optimizer="adam", warmup_steps=warmup_steps, schedule="inverse_sqrt",
                          grad_clip=1.0, bf16=bf16, seed=seed, patience=patience, log_every=10,
                          tensorboard=str(tensorboard) if tensorboard else None),
        max_train=max_train, gradient_checkpointing=gradient_checkpointing, backward=backward, dropout=dropout,
        init=str(init) if init else None, tokenizer=str(tokenizer) if tokenizer else None,
    )  # fmt: skip
    _train(run_training, list(data), run, out, quiet)


@app.command()
def demo(out: Annotated[Path, typer.Option(help="Where the demo writes.")] = Path("build/demo")) -> None:
    """Build a persona dialogue dataset from the bundled real sample and show it."""
    from confab.data.build import BuildConfig
    from confab.data.clean import CleanConfig
    from confab.resources import resource_path

    sample = resource_path("samples/topical_chat_valid_freq.json.gz")
    console.print(f"[bold]confab demo[/]: a persona dialogue dataset from {sample.name} (Topical-Chat, CDLA-Sharing)")
    config = BuildConfig(
        inputs=[str(sample)],
        format="topicalchat",
        examples="paths",
        persona="rules",
        max_persona=20,
        clean=CleanConfig(enabled=True),
    )
    _run_build(config, out / "dataset", quiet=False)
    console.print("[bold]A few training examples[/] (personas come from each speaker's other turns):")
    data_show(out / "dataset", split="train", n=3, as_json=False)


if __name__ == "__main__":
    app()
