"""The losses of PLATO-2's three training stages, each a module whose forward(batch) is the loss to minimise.

- stage 1, coarse-grained generation: NLL of the response given the context (eq. 1);
- stage 2.1, fine-grained generation: recognise the latent act p(z|c,r) from [M] (eq. 3), sample z with
  Gumbel-softmax, NLL of the response given (c, z) (eq. 2) plus the bag-of-words loss from z's state (eqs. 4-5);
- stage 2.2, evaluation: response coherence estimation against random responses (eq. 7) plus masked LM (eq. 8).

Two weights change the paper's sums, both measured on a model started from a pretrained encoder
(benchmarks/README.md): `mlm_weight` scales the masked LM of stage 2.2 (1 in the paper; from MiniLM the MLM term
held coherence accuracy at chance), and `latent_diversity` adds to stage 2.1 the gap between log K and the mutual
information of examples and latents (`information`: regularised information maximisation, Krause et al. 2010;
its first half, the usage entropy, is wav2vec 2.0's remedy for Gumbel codebooks that collapse onto a few entries;
0 in the paper). Alone, the usage entropy was met by making every posterior uniform, which tells z nothing.
A dual evaluator (`coherence="dual"`, generation.model) adds to the coherence loss an in-batch ranking loss: each
true context against every true response of its micro-batch, as bi-encoders are trained.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from confab.devices import to_device
from confab.errors import InvalidInput
from confab.generation.batches import coherence_view, prefix_lm_mask, response_targets
from confab.generation.model import UnifiedTransformer

STAGES = ("1", "2.1", "2.2")


class Objective(nn.Module):
    def __init__(self, model: UnifiedTransformer, stage: str, mlm_weight: float = 1.0, latent_diversity: float = 0.0,
                 heads_lr: float = 1.0):  # fmt: skip
        super().__init__()
        if stage not in STAGES:
            raise InvalidInput(f"unknown stage {stage!r}; stages: {', '.join(STAGES)}")
        self.model, self.stage = model, stage
        self.mlm_weight, self.latent_diversity = mlm_weight, latent_diversity
        # the heads a stage adds start from random weights while the network under them is trained already: they
        # may learn at a multiple of the learning rate (training.make_optimizer reads lr_scales)
        heads = {"1": (), "2.1": ("latents", "recognize", "bow"), "2.2": ("coherence", "similarity")}[stage]
        self.lr_scales = {f"model.{h}.": heads_lr for h in heads} if heads_lr != 1.0 else {}
        self.last: dict[str, float] = {}  # the parts of the last loss, for logs
        # heads a stage does not use get no gradient (and no optimiser state; DDP needs every trained one used)
        model.requires_grad_(True)
        for name in untrained_heads(model, stage):
            getattr(model, name).requires_grad_(False)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        batch = to_device(batch, self.model.device)  # validation hands in batches made on the CPU
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
        posterior = m.recognition_logits(recognised)
        self.posterior = posterior.detach().float().softmax(-1)  # read by the latent diagnostics
        if self.training:
            z = F.gumbel_softmax(posterior.float(), tau=m.config.gumbel_tau)
        else:  # validation: the most likely latent act, so that perplexity does not depend on sampling
            z = F.one_hot(posterior.argmax(-1), m.config.latent_k).float()
        hidden = m(batch, _mask(batch, causal=True), slot=m.latent_embedding(z))
        targets = response_targets(batch)
        bow = F.log_softmax(m.bow(hidden[:, 0]).float(), dim=-1)  # every response word from z's state alone
        picked = bow.gather(1, targets.clamp(min=0)).masked_fill(targets < 0, 0.0)
        parts = {"nll": _nll(m, hidden, batch, targets), "bow": -picked.sum() / (targets >= 0).sum().clamp(min=1)}
        if self.latent_diversity:
            parts["diversity"] = self.latent_diversity * (math.log(m.config.latent_k) - information(posterior))
        return parts

    def evaluation(self, batch: dict) -> dict[str, torch.Tensor]:
        """batch holds positive and random-response sequences with `label` (1/0) and `mlm_targets`."""
        masked = batch["mlm_targets"] >= 0
        if not self.mlm_weight and masked.any():  # no MLM: read the text as it is, as the evaluator will score it
            batch = {**batch, "tokens": torch.where(masked, batch["mlm_targets"], batch["tokens"])}
        m = self.model
        dual = m.config.coherence == "dual"
        batch, mask = coherence_view(batch, dual)
        hidden = m(batch, mask)
        coherence = m.coherence_logits(hidden, batch["prefix"], batch["length"]).float()
        self.predicted = coherence.argmax(-1).detach()  # read by validation
        parts = {"rce": F.cross_entropy(coherence, batch["label"])}
        if dual:  # a bi-encoder learns most from the other responses of its batch
            parts["ranking"] = in_batch_ranking(m, hidden, batch)
        if masked.any() and self.mlm_weight:
            mlm = F.cross_entropy(m.logits(hidden[masked]).float(), batch["mlm_targets"][masked])
            parts["mlm"] = self.mlm_weight * mlm
        return parts


def untrained_heads(model: UnifiedTransformer, stage: str) -> tuple[str, ...]:
    """The heads a stage's loss never reads (the model's attribute names): they get no gradient."""
    evaluator = ("pooler", "coherence") + (("similarity",) if model.similarity is not None else ())
    latent = ("latents", "recognize", "bow")
    heads = {"1": (*latent, *evaluator), "2.1": evaluator, "2.2": latent}[stage]
    if stage == "2.2" and model.config.coherence == "dual":  # the cosine reads the pooled states themselves
        heads += ("pooler", "coherence")
    return heads


def in_batch_ranking(model: UnifiedTransformer, hidden: torch.Tensor, batch: dict) -> torch.Tensor:
    """Dual coherence: each true pair's context against every true response of the micro-batch, cross-entropy of
    the scaled cosines (the in-batch negatives a bi-encoder learns from)."""
    true = batch["label"] == 1
    if true.sum() < 2:
        return hidden.new_zeros(()).float()
    u, v = model.pair_vectors(hidden[true], batch["prefix"][true], batch["length"][true])
    cosines = F.normalize(u, dim=-1) @ F.normalize(v, dim=-1).T
    return F.cross_entropy(model.similarity.weight.float()[0, 0] * cosines, torch.arange(len(u), device=u.device))


def information(logits: torch.Tensor) -> torch.Tensor:
    """The micro-batch's estimate of the mutual information between its examples and their latent acts, from the
    posterior logits [B, K]: the entropy of the mean posterior (high when every value is used) less the mean
    entropy of each posterior (low when each example is sure of its value)."""
    p = logits.float().softmax(-1)
    usage = p.mean(0)
    marginal = -(usage * usage.clamp(min=1e-12).log()).sum()
    return marginal + (p * p.clamp(min=1e-12).log()).sum(-1).mean()


def _mask(batch: dict, causal: bool) -> torch.Tensor:
    return prefix_lm_mask(batch["prefix"], batch["length"], batch["tokens"].size(1), causal)


def _nll(model: UnifiedTransformer, hidden: torch.Tensor, batch: dict, targets: torch.Tensor | None = None):
    targets = response_targets(batch) if targets is None else targets
    keep = targets >= 0
    return F.cross_entropy(model.logits(hidden[keep]).float(), targets[keep])
