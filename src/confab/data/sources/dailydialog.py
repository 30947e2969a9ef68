"""DailyDialog: one dialogue a line, turns ended by `__eou__`, optional TAB-separated topic, acts, emotions."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from confab.data.records import Message, Problems
from confab.data.sources.dialogue import alternating, chain
from confab.data.sources.lines import iter_lines

FORMAT = "dailydialog"
EOU = "__eou__"


def read(
    path: Path, source: str, problems: Problems, on_progress: Callable[[int], None] | None = None
) -> Iterator[Message]:
    for lineno, line in iter_lines(path, problems, on_progress):
        if not line.strip():
            continue
        utterances = line.split("\t")[0]
        if EOU not in utterances:
            problems.add("bad_record", str(path), lineno, f"no '{EOU}' turn separator")
            continue
        texts = [t.strip() for t in utterances.split(EOU) if t.strip()]
        yield from chain(source, str(lineno), alternating(texts), lineno)
