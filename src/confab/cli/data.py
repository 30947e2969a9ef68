"""`confab data`: build and inspect datasets."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from confab.cli.common import console, expand
from confab.config import load_config
from confab.errors import InvalidInput

app = typer.Typer(help="Build and inspect persona dialogue datasets.", no_args_is_help=True)


@app.command("build")
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
    engine: Annotated[
        str, typer.Option(help="local (this machine's cores) or spark (pip install 'confab[spark]'); both resume")
    ] = "local",
    master: Annotated[str, typer.Option(help="Spark: local[N] or spark://HOST:PORT.")] = "local[2]",
    processes: Annotated[int, typer.Option(help="Local engine: processes side by side (0: one per core)")] = 0,
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
    base = load_config(BuildConfig, config) if config else BuildConfig(inputs=[])
    clean_config = replace(
        base.clean,
        skip=sorted(set(base.clean.skip) | set(skip_rule or [])),
        **{k: v for k, v in clean_given.items() if v is not None},
    )
    cfg = replace(
        base, inputs=expand(files), clean=clean_config, **{k: v for k, v in given.items() if v is not None}
    )
    if cfg.examples not in ("pairs", "paths"):
        raise InvalidInput(f"--examples must be pairs or paths, not {cfg.examples}")
    if cfg.split not in ("random", "time"):
        raise InvalidInput(f"--split must be random or time, not {cfg.split}")
    if cfg.split_unit not in ("example", "thread"):
        raise InvalidInput(f"--split-unit must be example or thread, not {cfg.split_unit}")
    if engine not in ("local", "spark"):
        raise InvalidInput(f"--engine must be local or spark, not {engine}")
    run_build(cfg, out, quiet, engine, master, processes)


def run_build(cfg, out: Path, quiet: bool, engine: str = "local", master: str = "local[2]",
              processes: int = 0) -> None:  # fmt: skip
    from confab.data.build import Build
    from confab.progress import progress_bars

    with progress_bars(quiet) as bars:
        if engine == "spark":
            from confab.data.spark import SparkBuild

            SparkBuild(cfg, out, master, bars).run()
        else:
            Build(cfg, out, bars, processes).run()
    if not quiet:
        console.print((out / "report.md").read_text(), highlight=False)


@app.command("show")
def data_show(
    dataset: Annotated[Path, typer.Argument(help="A dataset folder made by `confab data build`.")],
    split: str = "train",
    n: Annotated[int, typer.Option("-n", help="How many examples.")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object a line.")] = False,
) -> None:
    """Print examples of a dataset."""
    from confab.data.schema import iter_examples

    rows = iter_examples(dataset, split)
    for i, row in enumerate(rows):
        if i >= n:
            break
        if as_json:
            print(json.dumps(row, ensure_ascii=False))
        else:
            _print_example(row)


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
