"""confab's generic dialogue format: JSON lines, one dialogue a line.

    {"id": "d1",                                  optional; the line number otherwise
     "turns": ["Hi!", "Hello, how are you?"],     strings, or objects {"text", "speaker", "created_utc"}
     "personas": {"B": ["I like tea."]}}          optional: persona sentences by speaker

Speakers alternate A, B, A, ... unless named. Every turn after the first is the response of an example,
unless the turn object says `"respond": false`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from confab.data.records import Message, Problems
from confab.data.sources.dialogue import Turn, chain
from confab.data.sources.lines import iter_json_lines
from confab.errors import InvalidInput

FORMAT = "jsonl"


def read(
    path: Path, source: str, problems: Problems, on_progress: Callable[[int], None] | None = None
) -> Iterator[Message]:
    for lineno, obj in iter_json_lines(path, problems, on_progress):
        try:
            turns = parse(obj)
        except ValueError as e:
            problems.add("bad_record", str(path), lineno, str(e))
            continue
        yield from chain(source, str(obj.get("id", lineno)), turns, lineno)


def parse(obj: object) -> list[Turn]:
    if not isinstance(obj, dict) or not isinstance(obj.get("turns"), list) or not obj["turns"]:
        raise InvalidInput("expected an object with a non-empty 'turns' list")
    personas = obj.get("personas") or {}
    if not isinstance(personas, dict) or not all(
        isinstance(v, list) and all(isinstance(s, str) for s in v) for v in personas.values()
    ):
        raise InvalidInput("'personas' must map speaker names to lists of strings")
    turns = []
    for i, turn in enumerate(obj["turns"]):
        if isinstance(turn, str):
            turn = {"text": turn}
        if not isinstance(turn, dict) or not isinstance(turn.get("text"), str):
            raise InvalidInput(f"turns[{i}] must be a string or an object with a 'text' string")
        speaker = str(turn.get("speaker", "AB"[i % 2]))
        created = turn.get("created_utc")
        if created is not None and not isinstance(created, int | float):
            raise InvalidInput(f"turns[{i}].created_utc must be a number")
        turns.append(
            Turn(
                turn["text"],
                speaker,
                respond=bool(turn.get("respond", i > 0)),
                persona=personas.get(speaker),
                created_utc=None if created is None else int(created),
            )
        )
    return turns
