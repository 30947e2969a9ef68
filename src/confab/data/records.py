"""The plain records that flow between the pure stage functions of the build."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(slots=True)
class Message:
    """One utterance: a Reddit comment or submission, or a turn of a dialogue corpus.

    Every source produces messages; dialogues become chains (each turn's parent is the turn before), so one
    tree-building, cleaning and example-making path serves Reddit and curated corpora alike.
    """

    id: str  # unique: a Reddit fullname (t1_..., t3_...) or "<file>:<dialogue>:<turn>"
    parent_id: str | None
    thread_id: str
    author: str | None
    text: str
    subreddit: str | None = None
    created_utc: int | None = None
    kind: str = "turn"  # comment | submission | turn
    respond: bool = True  # the message is the response of an example when it has a context
    persona: list[str] | None = None  # the responder's persona when the source gives one (PERSONA-CHAT)
    candidates: list[str] = field(default_factory=list)
    candidate_labels: list[int] = field(default_factory=list)
    source: str = ""
    line: int = 0


def message_row(m: Message) -> dict:
    """A message as a row of MESSAGE_SCHEMA."""
    return {
        "id": m.id,
        "parent_id": m.parent_id,
        "thread_id": m.thread_id,
        "author": m.author,
        "text": m.text,
        "subreddit": m.subreddit,
        "created_utc": m.created_utc,
        "kind": m.kind,
        "respond": m.respond,
        "persona": m.persona,
        "candidates": m.candidates,
        "candidate_labels": m.candidate_labels,
        "source": m.source,
        "line": m.line,
    }


@dataclass
class Problems:
    """Malformed input, counted by kind, with the first few places (file and line) kept for the report."""

    max_samples: int = 100
    counts: Counter[str] = field(default_factory=Counter)
    samples: list[dict] = field(default_factory=list)

    def add(self, kind: str, file: str, line: int, detail: str) -> None:
        self.counts[kind] += 1
        if len(self.samples) < self.max_samples:
            self.samples.append({"kind": kind, "file": file, "line": line, "detail": detail[:300]})

    def merge(self, other: Problems) -> None:
        self.counts.update(other.counts)
        room = self.max_samples - len(self.samples)
        self.samples.extend(other.samples[: max(0, room)])

    def total(self) -> int:
        return sum(self.counts.values())

    def to_dict(self) -> dict:
        return {"total": self.total(), "by_kind": dict(sorted(self.counts.items())), "samples": self.samples}

    @classmethod
    def from_dict(cls, data: dict) -> Problems:
        return cls(counts=Counter(data["by_kind"]), samples=list(data["samples"]))
