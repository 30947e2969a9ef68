"""`confab convert`: checkpoints of other toolkits into confab's own."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from confab.cli.common import console

app = typer.Typer(help="Convert other toolkits' checkpoints into confab checkpoints.", no_args_is_help=True)


@app.command("plato2")
def plato2(
    source: Annotated[
        Path,
        typer.Argument(help="A Knover checkpoint folder (Plato/ and NSP/, or one of them) or a PaddleNLP .pdparams."),
    ],
    out: Annotated[Path, typer.Option(help="Folder to write generator/ and evaluator/ into.")],
    dtype: Annotated[str, typer.Option(help="float32 or bfloat16.")] = "float32",
    vocab: Annotated[
        Path | None, typer.Option(help="Knover's spm.model + vocab.txt folder (default: beside the source).")
    ] = None,
    heads: Annotated[
        int | None,
        typer.Option(help="Attention heads (default: a Knover config JSON beside it, else heads 64 wide as released)."),
    ] = None,
) -> None:
    """The released PLATO-2 (generator and NSP evaluation model) as confab checkpoints that every command takes.
    The files are read as data: PaddlePaddle is not needed and nothing in them runs."""
    from confab.generation.knover import convert

    written = convert(source, out, dtype, vocab, heads)
    from confab.generation import checkpoint

    for role, folder in written.items():
        c = checkpoint.load(folder)[0].config
        console.print(f"{role}: {folder} ({c.layers} layers, hidden {c.hidden}, {c.heads} heads)", highlight=False)
