"""Validation of a PLATO-2 stage: per-token perplexity of the responses (stages 1 and 2.1, for 2.1 with z
recognised from the true response, and how the latents are used) or coherence accuracy against random responses and
the masked-LM loss (stage 2.2). The trainer validates with it after each epoch; `confab eval perplexity` scores
checkpoints with it."""

from __future__ import annotations

import math

import numpy as np
import torch

from confab.generation.data import BatchConfig, plan, stage_batch
from confab.generation.objectives import Objective
from confab.text.subwords import Tokenizer

VALIDATION_EPOCH = 1 << 20


@torch.no_grad()
def evaluate_stage(objective: Objective, seqs: list, stage: str, tok: Tokenizer, batching: BatchConfig,
                   seed: int, layout: str = "confab") -> dict:  # fmt: skip
    """Stages 1/2.1: token-level perplexity of the responses; 2.2: coherence accuracy and MLM loss."""
    was_training = objective.training
    objective.eval()
    # a seed stream no training epoch uses: the same order, negatives and masks at every validation
    rng = np.random.default_rng([seed, VALIDATION_EPOCH])
    total, weight, correct, count = 0.0, 0, 0, 0
    posteriors = []
    for step in plan([len(s.tokens) for s in seqs], batching, seed, VALIDATION_EPOCH):
        for micro in step:
            batch = stage_batch(seqs, micro, stage, tok, rng, layout)
            objective(batch)
            if stage == "2.2":
                correct += int((objective.predicted == batch["label"]).sum())
                count += len(batch["label"])
                total += objective.last.get("mlm", 0.0) * len(batch["label"])
                weight += len(batch["label"])
            else:
                n = int((batch["length"] - batch["prefix"] - 1).sum())
                total += objective.last["nll"] * n
                weight += n
                if stage == "2.1":
                    posteriors.append(objective.posterior)
    objective.train(was_training)
    if stage == "2.2":
        return {"accuracy": correct / max(count, 1), "mlm_loss": total / max(weight, 1), "n": count // 2}
    nll = total / max(weight, 1)
    out = {"nll": nll, "ppl": math.exp(min(nll, 50)), "tokens": weight}
    if posteriors:
        out.update(latent_diagnostics(torch.cat(posteriors)))
    return out


def latent_diagnostics(posterior: torch.Tensor) -> dict:
    """How the recognised latent acts p(z|c,r) [N, K] spread: the share of examples whose most likely z is
    each value, the number of values ever chosen, the mean posterior entropy (nats) and that of the usage.
    Collapse (one z for most examples) shows as few values used and a usage entropy near 0."""
    k = posterior.size(1)
    usage = torch.bincount(posterior.argmax(-1), minlength=k).float() / len(posterior)
    entropy = -(posterior * posterior.clamp(min=1e-12).log()).sum(-1).mean()
    usage_entropy = -(usage * usage.clamp(min=1e-12).log()).sum()
    return {"latent_usage": [round(float(u), 4) for u in usage], "latents_used": int((usage > 0).sum()),
            "posterior_entropy": float(entropy), "usage_entropy": float(usage_entropy),
            "latent_collapse": bool(usage.max() > 0.5)}  # fmt: skip
