"""The losses of PLATO-2's three training stages, each a module whose forward(batch) is the loss to minimise.

- stage 1, coarse-grained generation: NLL of the response given the context (eq. 1);
- stage 2.1, fine-grained generation: recognise the latent act p(z|c,r) from [M] (eq. 3), sample z with
  Gumbel-softmax, NLL of the response given (c, z) (eq. 2) plus the bag-of-words loss from z's state (eqs. 4-5);
- stage 2.2, evaluation: response coherence estimation against random responses (eq. 7) plus masked LM (eq. 8).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from confab.generation.batches import prefix_lm_mask, response_targets
from confab.generation.model import UnifiedTransformer

STAGES = ("1", "2.1", "2.2")


class Objective(nn.Module):
    def __init__(self, model: UnifiedTransformer, stage: str):
        super().__init__()
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; stages: {', '.join(STAGES)}")
        self.model, self.stage = model, stage
        self.last: dict[str, float] = {}  # the parts of the last loss, for logs
        # heads a stage does not use get no gradient (and no optimiser state; DDP needs every trained one used)
        unused = {
            "1": (model.latents, model.recognize, model.bow, model.pooler, model.coherence),
            "2.1": (model.pooler, model.coherence),
            "2.2": (model.latents, model.recognize, model.bow),
        }[stage]
        model.requires_grad_(True)
        for module in unused:
            module.requires_grad_(False)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        parts = {"1": self.generation, "2.1": self.latent_generation, "2.2": self.evaluation}[self.stage](batch)
        self.last = {k: float(v.detach()) for k, v in parts.items()}
        return sum(parts.values())

    def generation(self, batch: dict) -> dict[str, torch.Tensor]:
        start = int(batch["prefix"].min())  # the first response column of any row: the loss reads nothing before
        hidden = self.model(batch, _mask(batch, causal=True), outputs_from=start)
        return {"nll": _nll(self.model, hidden, batch, response_targets(batch)[:, start:])}

    def latent_generation(self, batch: dict) -> dict[str, torch.Tensor]:
        m = self.model
        recognised = m(batch, _mask(batch, causal=False))  # [M] sees context and response
        posterior = m.recognize(recognised[:, 0])
        self.posterior = posterior.detach().float().softmax(-1)  # read by the latent diagnostics
        if self.training:
            z = F.gumbel_softmax(posterior.float(), tau=m.config.gumbel_tau)
        else:  # validation: the most likely latent act, so that perplexity does not depend on sampling
            z = F.one_hot(posterior.argmax(-1), m.config.latent_k).float()
        hidden = m(batch, _mask(batch, causal=True), slot=m.latent_embedding(z))
        targets = response_targets(batch)
        bow = F.log_softmax(m.bow(hidden[:, 0]).float(), dim=-1)  # every response word from z's state alone
        picked = bow.gather(1, targets.clamp(min=0)).masked_fill(targets < 0, 0.0)
        return {"nll": _nll(m, hidden, batch, targets), "bow": -picked.sum() / (targets >= 0).sum().clamp(min=1)}

    def evaluation(self, batch: dict) -> dict[str, torch.Tensor]:
        """batch holds positive and random-response sequences with `label` (1/0) and `mlm_targets`."""
        hidden = self.model(batch, _mask(batch, causal=False))
        coherence = self.model.coherence_logits(hidden).float()
        self.predicted = coherence.argmax(-1).detach()  # read by validation
        rce = F.cross_entropy(coherence, batch["label"])
        masked = batch["mlm_targets"] >= 0
        if not masked.any():
            return {"rce": rce, "mlm": rce.new_zeros(())}
        mlm = F.cross_entropy(self.model.logits(hidden[masked]).float(), batch["mlm_targets"][masked])
        return {"rce": rce, "mlm": mlm}


def _mask(batch: dict, causal: bool) -> torch.Tensor:
    return prefix_lm_mask(batch["prefix"], batch["length"], batch["tokens"].size(1), causal)


def _nll(model: UnifiedTransformer, hidden: torch.Tensor, batch: dict, targets: torch.Tensor | None = None):
    targets = response_targets(batch) if targets is None else targets
    keep = targets >= 0
    return F.cross_entropy(model.logits(hidden[keep]).float(), targets[keep])
