"""What every chatbot of confab answers with, and the one interface they implement (chat, serve and eval use it).
A leaf: the model families import it, and nothing of confab is imported here."""

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
    scored_by: str  # what a candidate's score means, e.g. "coherence p(l=1|c,r) of the evaluation model"

    def respond(self, history: list[str], persona: list[str]) -> Reply:
        """The next turn after `history` (oldest first), spoken by someone described by `persona`."""
        ...


def respond_all(agent: Agent, requests: list[tuple[list[str], list[str]]]) -> list[Reply]:
    """Replies to several (history, persona) requests: in one batch where the agent can (`respond_batch`: PLATO-2
    and retrieval agents), else one after another."""
    if hasattr(agent, "respond_batch"):
        return agent.respond_batch(requests)
    return [agent.respond(history, persona) for history, persona in requests]
