"""An agent from a checkpoint folder or a bundled model's name, whichever family it is, and the one way every
command names one: `[NAME=]MODEL[,evaluator=PATH][,index=PATH][,ranking=...][,backward=PATH]` (`AgentSpec`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from confab.bundled import folders_read, resolve
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
    # deferred: each family imports PyTorch and its models, and only the one asked for is loaded
    if kind == "confab-plato":
        from confab.generation.agent import PlatoAgent

        return PlatoAgent(model, evaluator, **options)
    if kind == "confab-retrieval":
        from confab.retrieval.agent import RetrievalAgent

        if index is None:
            raise InvalidInput(f"{model}: a retrieval model answers from a candidate index: name it "
                               "(--agent MODEL,index=PATH)")
        if extra := sorted(set(options) - {"top_k", "precision", "device"}):
            raise InvalidInput(f"{model}: a retrieval model; {', '.join(extra)} apply to PLATO-2 models only")
        return RetrievalAgent(model, index, **options)
    raise InvalidInput(f"{model}: a {kind} checkpoint has no agent")


# what an agent spec may say besides its model: its parts (a PLATO-2 evaluator or backward model, a retrieval index),
# how a PLATO-2 agent ranks and feeds its evaluator, and where and in which precision it runs
AGENT_OPTIONS = ("evaluator", "index", "ranking", "backward", "evaluator_input", "precision", "device")
SPEC = "[NAME=]MODEL[,evaluator=PATH][,index=PATH][,ranking=evaluator|loglik|backward][,backward=PATH]"


@dataclass
class AgentSpec:
    """An agent as every command names it: `[NAME=]MODEL[,evaluator=PATH][,index=PATH][,...]` (SPEC). MODEL is a
    checkpoint folder or `bundled:plato2` / `bundled:retrieval`, which bring their own evaluator and index; NAME
    labels it where several agents answer side by side (default: the model's folder name)."""

    name: str
    model: str
    options: dict

    @classmethod
    def parse(cls, spec: str) -> AgentSpec:
        head, *rest = [part.strip() for part in str(spec).split(",")]
        name, _, model = head.rpartition("=")
        if not model:
            raise InvalidInput(f"agent {spec!r}: no model; write {SPEC}")
        options = {}
        for part in rest:
            key, eq, value = part.partition("=")
            key = key.replace("-", "_")
            if not eq or key not in AGENT_OPTIONS or not value:
                raise InvalidInput(
                    f"agent {spec!r}: {part!r} is not one of {', '.join(o + '=...' for o in AGENT_OPTIONS)}"
                )
            options[key] = value
        return cls(name or Path(model).name, model, options)

    def load(self, **defaults) -> Agent:
        """The agent; `defaults` (a command's --precision, --device, decoding) where the spec says nothing."""
        options = {**defaults, **self.options}
        return load_agent(self.model, index=options.pop("index", None), evaluator=options.pop("evaluator", None),
                          **options)  # fmt: skip

    def reads(self) -> list[Path]:
        """The folders this agent reads, `bundled:` names resolved (for a report's checksums)."""
        backward = folders_read(self.options["backward"]) if "backward" in self.options else []
        return [*folders_read(self.model, self.options.get("index"), self.options.get("evaluator")), *backward]
