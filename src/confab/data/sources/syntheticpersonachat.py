"""Synthetic-Persona-Chat (Google Research): a CSV of conversations a language model wrote from two PERSONA-CHAT
personas. Columns `user 1 personas`, `user 2 personas` (one sentence a line) and `Best Generated Conversation`,
whose lines are `User 1: ...` / `User 2: ...`.

Both speakers have personas, so every turn after the first is a response with its speaker's persona. Lines that are
not a speaker's turn (stage directions such as `[Later]` or `* * *`) are skipped and counted; turns that keep a
placeholder the writing model left (`Hi, I'm [User 1's name].`) stay as context but are never a response, so that no
model learns to answer with brackets.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from confab.data.records import Message, Problems
from confab.data.sources.dialogue import Turn, chain
from confab.data.sources.lines import iter_lines

FORMAT = "syntheticpersonachat"
COLUMNS = ("user 1 personas", "user 2 personas", "Best Generated Conversation")
_TURN = re.compile(r"^[*\s]*User ([12])\s*:[*\s]*(.*)$")
_PLACEHOLDER = re.compile(r"\[[^\]]*\]")


def read(
    path: Path, source: str, problems: Problems, on_progress: Callable[[int], None] | None = None
) -> Iterator[Message]:
    lines = iter_lines(path, problems, on_progress)
    reader = csv.reader(line + "\n" for _, line in lines)
    try:
        header = next(reader)
    except StopIteration:
        problems.add("bad_record", str(path), 1, "empty file")
        return
    except csv.Error as e:
        problems.add("bad_record", str(path), 1, f"not CSV: {e}")
        return
    if [h.strip() for h in header[:3]] != list(COLUMNS):
        problems.add("bad_record", str(path), 1, f"expected the columns {', '.join(COLUMNS)}")
        return
    index = 0
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            problems.add("bad_record", str(path), start, f"not CSV: {e}")
            continue
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < 3:
            problems.add("bad_record", str(path), start, f"{len(row)} columns, expected 3")
            continue
        personas = {s: [p.strip() for p in row[i].splitlines() if p.strip()] for i, s in enumerate("12")}
        turns = []
        first = start + row[0].count("\n") + row[1].count("\n")  # the file line of the conversation's first line
        for offset, text in enumerate(row[2].splitlines()):
            if not text.strip():
                continue
            match = _TURN.match(text)
            if not match:
                problems.add("not_a_turn", str(path), first + offset, text[:80])
                continue
            speaker, said = match.group(1), match.group(2).strip()
            respond = bool(turns) and not _PLACEHOLDER.search(said)
            turns.append(Turn(said, f"user{speaker}", respond=respond, persona=personas[speaker]))
        if len(turns) < 2:
            problems.add("bad_record", str(path), start, "a conversation of fewer than two turns")
            continue
        yield from chain(source, str(index), turns, start)
        index += 1
