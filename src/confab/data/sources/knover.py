"""Knover TSV, as used by the PLATO-2 reference code: `src<TAB>tgt`, context turns joined by ` [SEP] `.

Turns of `src` that start with `your persona:` are the responder's persona; the others are the context, the
last of them spoken by the partner. Each line is one example; a header line `src<TAB>tgt` is skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from confab.data.records import Message, Problems
from confab.data.sources.dialogue import Turn, chain
from confab.data.sources.lines import iter_lines

FORMAT = "knover"
SEP = " [SEP] "
PERSONA = "your persona:"


def read(
    path: Path, source: str, problems: Problems, on_progress: Callable[[int], None] | None = None
) -> Iterator[Message]:
    for lineno, line in iter_lines(path, problems, on_progress):
        if not line.strip() or (lineno == 1 and line.split("\t")[:2] == ["src", "tgt"]):
            continue
        fields = line.split("\t")
        if len(fields) < 2 or not fields[1].strip():
            problems.add("bad_record", str(path), lineno, "expected 'src<TAB>tgt'")
            continue
        persona, context = [], []
        for turn in fields[0].split(SEP):
            if turn.startswith(PERSONA):
                persona.append(turn.removeprefix(PERSONA).strip())
            elif turn.strip():
                context.append(turn.strip())
        # Speakers alternate backwards from the response: the last context turn is the partner's.
        speakers = ["partner" if (len(context) - i) % 2 else "self" for i in range(len(context))]
        turns = [Turn(t, s, respond=False) for t, s in zip(context, speakers, strict=True)]
        turns.append(Turn(fields[1].strip(), "self", persona=persona))
        yield from chain(source, str(lineno), turns, lineno)
