"""DailyDialog++: JSON lines with a context and 5 positive, 5 adversarial-negative, 5 random-negative responses.

Each context gives one example: the first positive response, with all 15 responses as candidates (label 1 for
the positives, 0 for both kinds of negatives, in the file's order: positives, adversarial, random).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from confab.data.records import Message, Problems
from confab.data.sources.dialogue import Turn, alternating, chain
from confab.data.sources.lines import iter_json_lines

FORMAT = "dailydialogpp"
KEYS = ("positive_responses", "adversarial_negative_responses", "random_negative_responses")


def read(
    path: Path, source: str, problems: Problems, on_progress: Callable[[int], None] | None = None
) -> Iterator[Message]:
    for lineno, obj in iter_json_lines(path, problems, on_progress):
        if isinstance(groups := response_groups(obj), str):
            problems.add("bad_record", str(path), lineno, groups)
            continue
        candidates = [c for g in groups for c in g]
        labels = [1] * len(groups[0]) + [0] * (len(candidates) - len(groups[0]))
        turns = alternating(obj["context"])
        for t in turns:
            t.respond = False
        speaker = "B" if len(turns) % 2 else "A"
        turns.append(Turn(groups[0][0], speaker, candidates=candidates, candidate_labels=labels))
        yield from chain(source, str(obj.get("id", lineno)), turns, lineno)


def response_groups(obj: object) -> list[list[str]] | str:
    """The positive, adversarial-negative and random-negative responses of one record, or what is wrong with it."""
    if not isinstance(obj, dict) or not _strings(obj.get("context")) or not _strings(obj.get(KEYS[0])):
        return "needs 'context' and 'positive_responses' lists"
    groups = [obj.get(k) or [] for k in KEYS]
    if not all(_strings(g) or g == [] for g in groups):
        return f"{', '.join(KEYS)} must be lists of strings"
    return groups


def _strings(value: object) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)
