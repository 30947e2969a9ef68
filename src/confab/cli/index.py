"""`confab index`: candidate indexes for retrieval agents."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from confab.cli.common import Device, Precision, console, device_or_fail
from confab.errors import InvalidInput

app = typer.Typer(help="Candidate indexes for retrieval agents.", no_args_is_help=True)


@app.command("build")
def index_build(
    model: Annotated[Path, typer.Option(help="A retrieval checkpoint folder.")],
    data: Annotated[list[Path], typer.Option(help="Dataset folders (all splits' responses) or source files.")],
    out: Annotated[Path, typer.Option(help="Index folder to write.")],
    max_tokens: Annotated[int | None, typer.Option(help="Keep responses of at most N tokens (paper: 10).")] = None,
    exact_max: Annotated[
        int, typer.Option(help="Exact search up to this many responses; HNSW above (cosine models only).")
    ] = 200_000,
    precision: Precision = "auto",
    device: Device = "auto",
    quiet: bool = False,
) -> None:
    """Encode a pool of candidate responses and index them for search (resumable)."""
    from confab.progress import progress_bars
    from confab.retrieval import checkpoint
    from confab.retrieval.index import build_index, collect_responses
    from confab.retrieval.score import RankerScorer

    ranker, tokenizer, _ = checkpoint.load(model)
    scorer = RankerScorer(ranker.to(device_or_fail(device)), tokenizer, precision=precision)
    responses = collect_responses(_responses_of(data), max_tokens)
    if not responses:
        raise InvalidInput("no responses to index")
    with progress_bars(quiet) as bars:
        build_index(
            responses,
            lambda texts: scorer.encode_responses(texts).float().cpu().numpy(),
            out,
            exact_max,
            bars,
            {"model": str(model), "data": [str(d) for d in data], "max_tokens": max_tokens},
            unit_vectors=ranker.config.similarity == "cosine",
        )
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
