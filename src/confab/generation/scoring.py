"""Scoring candidate responses with PLATO-2 checkpoints: the three scoring functions of PLATO-2 appendix E.

- a stage-2.2 evaluation model: the coherence probability p(l=1|c,r) from its [CLS] state;
- a backward stage-1 model (`--backward`): log p(c_last|r), the last context turn recovered from the response;
- any other stage-1 model: log p(r|c), the response given persona and context.

Log-likelihoods are averaged over tokens ([EOS] included), so that long candidates are not penalised for their
length. A scorer has the retrieval scorers' interface: (examples, candidate lists) -> one score array each.
"""

from __future__ import annotations

import numpy as np
import torch

from confab.errors import InvalidInput
from confab.generation.batches import (
    Sequence,
    coherence_view,
    collate,
    evaluator_view,
    layout,
    prefix_lm_mask,
    response_targets,
)
from confab.generation.limits import Limits
from confab.generation.model import Evaluator, Generator
from confab.text.subwords import Tokenizer
from confab.transformer.model import UnifiedTransformer


def kind_of(model: UnifiedTransformer, meta: dict) -> str:
    """What a checkpoint scores: coherence (an evaluator), backward (stage 1 --backward) or forward (stage 1)."""
    if isinstance(model, Evaluator):
        return "coherence"
    if model.config.latent_k:
        raise InvalidInput("a stage-2.1 generator has no p(r|c) without a latent; score with its stage-1 model")
    return "backward" if meta.backward else "forward"


@torch.no_grad()
def coherence(
    model: Evaluator, tok: Tokenizer, limits: Limits, persona: list[str], context: list[str],
    responses: list[str] | list[list[int]], retokenise: bool = False,
) -> torch.Tensor:  # fmt: skip
    """p(l=1|c,r) of each response (text, or ids as generated) after the persona and context. `retokenise`: the
    context and responses go in as PaddleNLP's PLATO-2 feeds its NSP model, their pieces joined by spaces and
    tokenised again (a Knover vocabulary's `retokenised`)."""
    if retokenise:
        if not hasattr(tok, "retokenised"):
            raise InvalidInput(f"re-tokenised evaluator input is PaddleNLP's, for a Knover vocabulary; not {tok.kind}")
        persona, context = [tok.retokenised(p) for p in persona], [tok.retokenised(t) for t in context]
        responses = [tok.retokenised(r) for r in responses]
    seqs = [evaluator_view(layout(tok, persona, context, r, limits), tok, limits.layout) for r in responses]
    if model.config.coherence == "dual" and _one_prefix(seqs):
        return _dual_shared(model, seqs, tok.pad).float().softmax(-1)[:, 1]
    batch, mask = coherence_view(collate(seqs, tok.pad, model.device), model.config.coherence == "dual")
    hidden = model(batch, mask)
    return model.coherence_logits(hidden, batch["prefix"], batch["length"]).float().softmax(-1)[:, 1]


def _one_prefix(seqs: list[Sequence]) -> bool:
    p = seqs[0].prefix
    head = (seqs[0].tokens[:p], seqs[0].roles[:p], seqs[0].turns[:p])
    return all(s.prefix == p and (s.tokens[:p], s.roles[:p], s.turns[:p]) == head for s in seqs[1:])


def _dual_shared(model: Evaluator, seqs: list[Sequence], pad: int) -> torch.Tensor:
    """Dual logits [B, 2] of responses after one shared context, which is read once instead of once per
    response: the dual mask keeps the two apart, so the states are those of the block-diagonal reading."""
    p = seqs[0].prefix
    context = Sequence(seqs[0].tokens[:p], seqs[0].roles[:p], seqs[0].turns[:p], p)
    answers = [Sequence(s.tokens[p:], s.roles[p:], s.turns[p:], 0) for s in seqs]  # positions from 0
    u, v = (
        model.pair_vectors(model(*coherence_view(batch, True)), batch["prefix"], batch["length"])[side]
        for batch, side in ((collate([context], pad, model.device), 0), (collate(answers, pad, model.device), 1))
    )
    return model.pair_logits(u.expand_as(v), v)


@torch.no_grad()
def loglik(model: Generator, seqs: list[Sequence], pad: int) -> torch.Tensor:
    """Token-averaged log-likelihood of each sequence's response given its prefix."""
    batch = collate(seqs, pad, model.device)
    mask = prefix_lm_mask(batch["prefix"], batch["length"], batch["tokens"].size(1))
    logp = model.logits(model(batch, mask)).float().log_softmax(-1)
    targets = response_targets(batch)
    picked = logp.gather(2, targets.clamp(min=0)[..., None])[..., 0].masked_fill(targets < 0, 0.0)
    return picked.sum(1) / (targets >= 0).sum(1).clamp(min=1)


def backward_loglik(
    model: Generator, tok: Tokenizer, limits: Limits, context: list[str], responses: list[str]
) -> torch.Tensor:
    """log p(c_last|r) of a backward model, for each response."""
    turn = context[-1] if context else ""
    return loglik(model, [layout(tok, [], [r], turn, limits) for r in responses], tok.pad)


class PlatoScorer:
    """Scores (context, candidates) with a PLATO-2 checkpoint by what it is (see `kind_of`)."""

    def __init__(self, model: UnifiedTransformer, tok: Tokenizer, limits: Limits, meta: dict):
        self.model, self.tok, self.limits, self.kind = model, tok, limits, kind_of(model, meta)

    def score(self, persona: list[str], context: list[str], responses: list[str]) -> torch.Tensor:
        if self.kind == "coherence":
            return coherence(self.model, self.tok, self.limits, persona, context, responses)
        if self.kind == "backward":
            return backward_loglik(self.model, self.tok, self.limits, context, responses)
        seqs = [layout(self.tok, persona, context, r, self.limits) for r in responses]
        return loglik(self.model, seqs, self.tok.pad)

    def __call__(self, examples: list[dict], candidates: list[list[str]]) -> list[np.ndarray]:
        return [
            self.score(list(e.get("persona") or []), list(e["context"]), cands).cpu().numpy()
            for e, cands in zip(examples, candidates, strict=True)
        ]
