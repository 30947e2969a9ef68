"""The one Agent interface that every chatbot of confab implements, and that chat, serve and eval use."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass
class Candidate:
    text: str
    score: float
    info: dict = field(default_factory=dict)  # e.g. the latent value z of a PLATO-2 candidate


@dataclass
class Reply:
    text: str
    candidates: list[Candidate]  # best first; candidates[0].text == text
    seconds: float


class Agent(Protocol):
    def respond(self, history: list[str], persona: list[str]) -> Reply:
        """The next turn after `history` (oldest first), spoken by someone described by `persona`."""
        ...
