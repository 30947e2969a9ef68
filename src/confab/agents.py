"""The one Agent interface that every chatbot of confab implements, and that chat, serve and eval use."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
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


def load_agent(
    model: str | Path,
    index: str | Path | None = None,
    evaluator: str | Path | None = None,
    **options,
) -> Agent:
    """The agent of a checkpoint: a retrieval model (with its candidate `index`) or a PLATO-2 generator (with an
    optional stage-2.2 `evaluator` to rank its candidates). `bundled:plato2` and `bundled:retrieval` are the
    models that ship with confab, with their evaluator or index."""
    from confab.bundled import resolve

    model, index, evaluator = resolve(model, index, evaluator)
    path = Path(model) / "config.json"
    if not path.exists():
        raise FileNotFoundError(f"{model}: no config.json; is it a confab checkpoint?")
    kind = json.loads(path.read_text()).get("kind")
    if kind == "confab-plato":
        from confab.generation.agent import PlatoAgent

        return PlatoAgent(model, evaluator, **options)
    if kind == "confab-retrieval":
        from confab.retrieval.agent import RetrievalAgent

        if index is None:
            raise ValueError(f"{model}: a retrieval model answers from a candidate index: pass one (--index)")
        if extra := sorted(set(options) - {"top_k", "precision", "device"}):
            raise ValueError(f"{model}: a retrieval model; {', '.join(extra)} apply to PLATO-2 models only")
        return RetrievalAgent(model, index, **options)
    raise ValueError(f"{model}: unknown checkpoint kind {kind!r}")
