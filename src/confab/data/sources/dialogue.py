"""Dialogue corpora become chains of messages: each turn's parent is the turn before it."""

from __future__ import annotations

from dataclasses import dataclass, field

from confab.data.records import Message


@dataclass
class Turn:
    text: str
    speaker: str
    respond: bool = True
    persona: list[str] | None = None
    candidates: list[str] = field(default_factory=list)
    candidate_labels: list[int] = field(default_factory=list)
    created_utc: int | None = None
    author: str | None = None  # a user id the corpus keeps across dialogues; None: the speaker of this dialogue


def chain(source: str, dialogue_id: str, turns: list[Turn], line: int) -> list[Message]:
    """Messages for one dialogue; authors are per dialogue and speaker unless the corpus names its users (so that
    persona extraction can gather a user's sentences from all their dialogues, as from Reddit authors)."""
    thread = f"{source}:{dialogue_id}"
    messages: list[Message] = []
    for i, turn in enumerate(turns):
        messages.append(
            Message(
                id=f"{thread}:{i}",
                parent_id=messages[-1].id if messages else None,
                thread_id=thread,
                author=turn.author or f"{thread}:{turn.speaker}",
                text=turn.text,
                created_utc=turn.created_utc,
                kind="turn",
                respond=turn.respond,
                persona=turn.persona,
                candidates=turn.candidates,
                candidate_labels=turn.candidate_labels,
                source=source,
                line=line,
            )
        )
    return messages


def alternating(texts: list[str], speakers: tuple[str, str] = ("A", "B")) -> list[Turn]:
    """Turns spoken alternately by two speakers, each after the first being a response."""
    return [Turn(text, speakers[i % 2], respond=i > 0) for i, text in enumerate(texts)]
