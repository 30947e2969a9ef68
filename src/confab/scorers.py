"""A scoring function from a name: `tfidf`, a retrieval or PLATO-2 checkpoint, a bundled model, or
`bundled:minilm` (the untrained sentence encoder as a ranker). Every scorer maps
(examples, candidate lists) to one score array per example."""

from __future__ import annotations

from pathlib import Path

from confab.bundled import pretrained_folder, resolve
from confab.checkpoints import kind_of
from confab.devices import resolve as resolve_device
from confab.errors import MissingInput
from confab.generation import checkpoint as plato_checkpoint
from confab.generation.scoring import PlatoScorer
from confab.ranking import Scorer
from confab.retrieval import checkpoint as retrieval_checkpoint
from confab.retrieval.checkpoint import ZERO_SHOT
from confab.retrieval.score import RankerScorer, TfidfScorer


def load_scorer(model: str, corpus: list[str], precision: str = "auto", device: str = "auto",
                ) -> tuple[Scorer, str, bool]:  # fmt: skip
    """(scorer, what it scores, whether its scores are probabilities), its model on `device` (confab.devices).
    `corpus` gives TF-IDF its document frequencies."""
    if model == "tfidf":
        return TfidfScorer(corpus), "tf-idf cosine", False
    if model == ZERO_SHOT:  # the untrained sentence encoder
        ranker, tokenizer, _ = retrieval_checkpoint.zero_shot()
        scorer = RankerScorer(ranker.to(resolve_device(device)), tokenizer, precision=precision)
        return scorer, "untrained encoder, cosine", False
    model = str(scorer_folder(model))
    if not (Path(model) / "config.json").exists():
        raise MissingInput(f"{model}: no config.json; give a confab checkpoint or tfidf")
    if kind_of(Path(model)) == "confab-retrieval":
        ranker, tokenizer, _ = retrieval_checkpoint.load(model)
        scorer = RankerScorer(ranker.to(resolve_device(device)), tokenizer, precision=precision)
        return scorer, f"retrieval {ranker.config.similarity_name}", False
    generator, tok, meta = plato_checkpoint.load(model, precision, resolve_device(device))
    scorer = PlatoScorer(generator, tok, plato_checkpoint.limits_of(meta), meta)
    name = {"coherence": "p(l=1|c,r)", "forward": "log p(r|c)", "backward": "log p(c|r)"}[scorer.kind]
    return scorer, name, scorer.kind == "coherence"


def scorer_folder(model: str) -> Path | None:
    """The checkpoint a scorer of this name reads (None for tfidf): bundled:plato2 ranks with its evaluation model,
    as PLATO-2 does; bundled:minilm reads the installed encoder."""
    if model == "tfidf":
        return None
    if model == ZERO_SHOT:
        return pretrained_folder()
    main, _, evaluator = resolve(model)
    return evaluator or main
