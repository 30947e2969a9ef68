"""PERSONA-CHAT / ConvAI2 in ParlAI's text format.

    1 your persona: i read twenty books a year.
    5 hello what are doing today ?<TAB>i am good , i just got off work .<TAB><TAB>cand 1|cand 2|...

Each numbered line belongs to the dialogue that started at the last line numbered 1. A line's text is the
partner's turn and its label the bot's answer; the label is the example's response, with the line's
candidates (PERSONA-CHAT: 20, the correct one among them). `your persona:` lines give the bot's persona,
`partner's persona:` lines the partner's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

from confab.data.records import Message, Problems
from confab.data.sources.dialogue import Turn, chain
from confab.data.sources.lines import iter_lines

FORMAT = "parlai"
_NUMBERED = re.compile(r"^(\d+) (.*)$", re.DOTALL)
SILENCE = "__SILENCE__"


def read(
    path: Path, source: str, problems: Problems, on_progress: Callable[[int], None] | None = None
) -> Iterator[Message]:
    dialogue = _Dialogue(0, 0)
    count = 0
    for lineno, line in iter_lines(path, problems, on_progress):
        if not line.strip():
            continue
        match = _NUMBERED.match(line)
        if not match:
            problems.add("bad_record", str(path), lineno, "a ParlAI line starts with its number and a space")
            continue
        number, rest = int(match.group(1)), match.group(2)
        if number == 1 and dialogue.lines:
            yield from dialogue.messages(source, count)
            count += 1
            dialogue = _Dialogue(lineno, 0)
        if not dialogue.lines:
            dialogue.start = lineno
        dialogue.lines += 1
        if "\t" not in rest:
            if rest.startswith("your persona:"):
                dialogue.self_persona.append(rest.removeprefix("your persona:").strip())
            elif rest.startswith("partner's persona:"):
                dialogue.partner_persona.append(rest.removeprefix("partner's persona:").strip())
            else:
                problems.add("bad_record", str(path), lineno, "no TAB between text and label")
            continue
        fields = rest.split("\t")
        text, labels = fields[0], fields[1]
        label = labels.split("|")[0]
        candidates = fields[3].split("|") if len(fields) > 3 and fields[3] else []
        if candidates and label not in candidates:
            problems.add("label_not_in_candidates", str(path), lineno, label)
            candidates = []
        dialogue.exchanges.append((text, label, candidates))
    if dialogue.lines:
        yield from dialogue.messages(source, count)


class _Dialogue:
    def __init__(self, start: int, lines: int):
        self.start, self.lines = start, lines
        self.self_persona: list[str] = []
        self.partner_persona: list[str] = []
        self.exchanges: list[tuple[str, str, list[str]]] = []

    def messages(self, source: str, index: int) -> list[Message]:
        turns: list[Turn] = []
        for text, label, candidates in self.exchanges:
            if text and text != SILENCE:
                turns.append(Turn(text, "partner", respond=False, persona=self.partner_persona or None))
            turns.append(
                Turn(
                    label,
                    "self",
                    respond=True,
                    persona=list(self.self_persona),
                    candidates=candidates,
                    candidate_labels=[int(c == label) for c in candidates],
                )
            )
        return chain(source, str(index), turns, self.start)
