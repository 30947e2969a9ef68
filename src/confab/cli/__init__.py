"""The `confab` command line: each subcommand is a thin call into the library."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from confab.cli import data, evaluate, human, index, talk, train
from confab.cli.common import console

app = typer.Typer(help="confab: persona-grounded open-domain dialogue.", no_args_is_help=True)
app.add_typer(data.app, name="data")
app.add_typer(train.app, name="train")
app.add_typer(evaluate.app, name="eval")
app.add_typer(index.app, name="index")
app.add_typer(train.tokenizer_app, name="tokenizer")
app.add_typer(human.app, name="human")
app.command()(talk.chat)
app.command()(talk.respond)
app.command()(talk.serve)
app.command()(evaluate.selfchat)


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
    data.run_build(config, out / "dataset", quiet=False)
    console.print("[bold]A few training examples[/] (personas come from each speaker's other turns):")
    data.data_show(out / "dataset", split="train", n=3, as_json=False)
