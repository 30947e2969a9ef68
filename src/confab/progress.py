"""Progress bars for long steps (rich), as a plain callable so library code needs no terminal."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

# progress(description, total) -> update(completed)
ProgressFactory = Callable[[str, float], Callable[[float], None]]


def no_progress(description: str, total: float) -> Callable[[float], None]:
    """A ProgressFactory that shows nothing (library calls without a terminal)."""
    return lambda completed: None


@contextmanager
def progress_bars(quiet: bool = False) -> Iterator[ProgressFactory]:
    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description:<34}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=quiet,
    ) as bars:

        def factory(description: str, total: float) -> Callable[[float], None]:
            task = bars.add_task(description, total=total)
            return lambda completed: bars.update(task, completed=completed)

        yield factory
