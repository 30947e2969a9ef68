"""An agent from a checkpoint folder or a bundled model's name, whichever family it is."""

from __future__ import annotations

from pathlib import Path

from confab.bundled import resolve
from confab.checkpoints import kind_of
from confab.errors import InvalidInput
from confab.replies import Agent


def load_agent(
    model: str | Path,
    index: str | Path | None = None,
    evaluator: str | Path | None = None,
    **options,
) -> Agent:
    """The agent of a checkpoint: a retrieval model (with its candidate `index`) or a PLATO-2 generator (with an
    optional stage-2.2 `evaluator` to rank its candidates). `bundled:plato2` and `bundled:retrieval` are the
    models that ship with confab, with their evaluator or index."""
    model, index, evaluator = resolve(model, index, evaluator)
    kind = kind_of(Path(model))
    # each family imports PyTorch and its models: only the one asked for is loaded
    if kind == "confab-plato":
        from confab.generation.agent import PlatoAgent

        return PlatoAgent(model, evaluator, **options)
    if kind == "confab-retrieval":
        from confab.retrieval.agent import RetrievalAgent

        if index is None:
            raise InvalidInput(f"{model}: a retrieval model answers from a candidate index: pass one (--index)")
        if extra := sorted(set(options) - {"top_k", "precision", "device"}):
            raise InvalidInput(f"{model}: a retrieval model; {', '.join(extra)} apply to PLATO-2 models only")
        return RetrievalAgent(model, index, **options)
    raise InvalidInput(f"{model}: a {kind} checkpoint has no agent")
