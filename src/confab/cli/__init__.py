"""The `confab` command line: each subcommand is a thin call into the library.

The subcommands import the library inside their functions on purpose: `confab --help`, a command's help and a bad
option answer at once, without loading PyTorch and the models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from confab.cli import convert, data, evaluate, human, index, talk, train
from confab.cli.common import Commands, Device, Precision, console

app = typer.Typer(cls=Commands, help="confab: persona-grounded open-domain dialogue.", no_args_is_help=True)
app.add_typer(data.app, name="data")
app.add_typer(train.app, name="train")
app.add_typer(evaluate.app, name="eval")
app.add_typer(index.app, name="index")
app.add_typer(train.tokenizer_app, name="tokenizer")
app.add_typer(human.app, name="human")
app.add_typer(convert.app, name="convert")
app.command()(talk.chat)
app.command()(talk.respond)
app.command()(talk.serve)
app.command()(evaluate.selfchat)


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Where the demo writes (a second run skips what is there).")] = Path(
        "build/demo"
    ),
    budget: Annotated[
        str, typer.Option(help="quick (minutes), full (the shipped models' recipe, under 2 h) or smoke.")
    ] = "quick",
    chat: Annotated[bool, typer.Option(help="End in a chat (a scripted one without a terminal).")] = True,
    precision: Precision = "auto",
    device: Device = "auto",
) -> None:
    """The whole mission on the bundled real data: build datasets, train a retrieval agent and PLATO-2's three
    stages, evaluate them, write a report with a plot, and chat."""
    from confab.demo import Demo, chat_at_the_end
    from confab.progress import progress_bars

    console.print(f"[bold]confab demo[/] ({budget}): everything goes to {out}", highlight=False)
    with progress_bars() as bars:
        demo_run = Demo(out, budget, console, bars, precision, device)  # checks budget, precision, device
        console.print(f"device {demo_run.on} · precision {demo_run.chosen}", highlight=False)
        demo_run.run()
    if chat:
        chat_at_the_end(demo_run)
