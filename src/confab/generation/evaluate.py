"""Validation of a PLATO-2 stage, as the stage measures it (`generation.stages`): per-token perplexity of the
responses (stages 1 and 2.1, for 2.1 with z recognised from the true response, and how the latents are used) or
coherence accuracy against random responses and the masked-LM loss (stage 2.2). The trainer validates with it after
each epoch; `confab eval perplexity` scores checkpoints with it."""

from __future__ import annotations

import numpy as np
import torch

from confab.generation.data import BatchConfig, plan
from confab.generation.stages import Stage
from confab.text.subwords import Tokenizer

VALIDATION_EPOCH = 1 << 20


@torch.no_grad()
def evaluate_stage(stage: Stage, seqs: list, tok: Tokenizer, batching: BatchConfig, seed: int,
                   layout: str = "confab") -> dict:  # fmt: skip
    was_training = stage.training
    stage.eval()
    # a seed stream no training epoch uses: the same order, negatives and masks at every validation
    rng = np.random.default_rng([seed, VALIDATION_EPOCH])
    sums: dict = {}
    for step in plan([len(s.tokens) for s in seqs], batching, seed, VALIDATION_EPOCH):
        for micro in step:
            batch = stage.batch(seqs, micro, tok, rng, layout)
            stage(batch)
            stage.tally(batch, sums)
    stage.train(was_training)
    return stage.summary(sums)
