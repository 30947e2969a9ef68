"""What every `confab` subcommand shares: the console, errors, file globs and a trainer's progress."""

from __future__ import annotations

import glob
from pathlib import Path

import typer
from rich.console import Console

console = Console()
PRECISION_HELP = "PLATO-2: auto (bfloat16 where the CPU has bfloat16 matrix units) | float32 | bfloat16."


def fail(message: str) -> None:
    Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(2)


def expand(files: list[str]) -> list[str]:
    """Files as given; quoted globs (RC_2015-*.zst) are expanded here, in sorted order."""
    out = []
    for f in files:
        matches = sorted(glob.glob(f)) if any(c in f for c in "*?[") and not Path(f).exists() else [f]
        if not matches:
            fail(f"no file matches {f}")
        out.extend(matches)
    return out


def train_with_progress(train, data: list[Path], run, out: Path, quiet: bool) -> None:
    """Run a trainer with progress bars; print its epochs and where the checkpoint went."""
    from confab.progress import progress_bars

    try:
        with progress_bars(quiet) as bars:
            result = train(data, run, out, bars)
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        fail(str(e))
    if not quiet:
        for record in result["history"]:
            console.print(record, highlight=False)
