"""PERSONA-CHAT dialogues as XPersona ships them: one JSON array of {"persona": [sentences], "dialogue": [[partner,
bot], ...]}.

Each pair is the partner's turn and the bot's answer; the bot's persona is given (the partner's is not), and
`__SILENCE__` stands for the partner's turn when the bot speaks first. As in the ParlAI reader, the bot's turns are
the examples' responses and the partner's turns their context.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from confab.data.records import Message, Problems
from confab.data.sources.dialogue import Turn, chain
from confab.data.sources.lines import read_json_as
from confab.data.sources.parlai import SILENCE
from confab.errors import InvalidInput

FORMAT = "xpersona"


def read(
    path: Path, source: str, problems: Problems, on_progress: Callable[[int], None] | None = None
) -> Iterator[Message]:
    data = read_json_as(path, problems, list, "a JSON array of dialogues")
    if data is None:
        return
    for i, dialogue in enumerate(data):
        try:
            turns = _turns(dialogue)
        except ValueError as e:
            problems.add("bad_record", str(path), 0, f"dialogue {i}: {e}")
            continue
        yield from chain(source, str(i), turns, 0)
    if on_progress is not None:
        on_progress(path.stat().st_size)


def _turns(dialogue: object) -> list[Turn]:
    if not isinstance(dialogue, dict):
        raise InvalidInput("expected an object with 'persona' and 'dialogue'")
    persona, pairs = dialogue.get("persona"), dialogue.get("dialogue")
    if not isinstance(persona, list) or not all(isinstance(s, str) for s in persona):
        raise InvalidInput("'persona' must be a list of sentences")
    if not isinstance(pairs, list) or not pairs:
        raise InvalidInput("'dialogue' must be a non-empty list of [partner, bot] pairs")
    turns: list[Turn] = []
    for j, pair in enumerate(pairs):
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(t, str) for t in pair)):
            raise InvalidInput(f"turn pair {j} is not [partner, bot]")
        partner, bot = pair
        if partner.strip() and partner != SILENCE:
            turns.append(Turn(partner, "partner", respond=False))
        turns.append(Turn(bot, "self", respond=True, persona=list(persona)))
    return turns
