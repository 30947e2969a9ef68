"""PLATO-2's three training stages, each an object that knows the network it trains, its micro-batches, its
loss terms and its validation; forward(batch) is the loss to minimise:

- `Generation` (stage 1), coarse-grained generation: NLL of the response given the context (eq. 1);
- `LatentGeneration` (stage 2.1), fine-grained generation: recognise the latent act p(z|c,r) from [M] (eq. 3),
  sample z with Gumbel-softmax, NLL of the response given (c, z) (eq. 2) plus the bag-of-words loss from z's state
  (eqs. 4-5);
- `Evaluation` (stage 2.2): response coherence estimation against random responses (eq. 7) plus masked LM (eq. 8).

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
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from confab.devices import to_device
from confab.errors import InvalidInput
from confab.generation.batches import Sequence, coherence_view, prefix_lm_mask, response_targets
from confab.generation.data import loss_terms, micro_batch, step_batches
from confab.generation.model import Evaluator, Generator
from confab.text.subwords import Tokenizer
from confab.transformer.model import UnifiedTransformer


class Stage(nn.Module):
    name: ClassVar[str]
    network: ClassVar[type[UnifiedTransformer]]  # the network it trains
    new_heads: ClassVar[tuple[str, ...]] = ()  # the heads it adds to the model it starts from
    pairs: ClassVar[bool] = False  # its micro-batches: (context, true or random response) pairs
    metric: ClassVar[tuple[str, bool]] = ("ppl", False)  # its validation figure, and whether higher is better

    def __init__(self, model: UnifiedTransformer, heads_lr: float = 1.0):
        super().__init__()
        if not isinstance(model, self.network):
            raise InvalidInput(f"stage {self.name} trains a {self.network.network}; this model is a {model.network}")
        self.model = model
        # the heads a stage adds start from random weights while the network under them is trained already: they
        # may learn at a multiple of the learning rate (training.make_optimizer reads lr_scales)
        self.lr_scales = {f"model.{h}.": heads_lr for h in self.new_heads} if heads_lr != 1.0 else {}
        self.last: dict[str, float] = {}  # the parts of the last loss, for logs
        model.requires_grad_(True)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        batch = to_device(batch, self.model.device)  # validation hands in batches made on the CPU
        parts = self.loss_terms(batch)
        self.last = {k: float(v.detach()) for k, v in parts.items()}
        return sum(parts.values())

    def loss_terms(self, batch: dict) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def batch(self, seqs: list[Sequence], indices: list[int], tok: Tokenizer, rng: np.random.Generator,
              layout: str = "confab") -> dict[str, torch.Tensor]:  # fmt: skip
        return micro_batch(seqs, indices, tok, rng, layout, self.pairs)

    def step(self, seqs: list[Sequence], step: list[list[int]], tok: Tokenizer, rng: np.random.Generator,
             layout: str = "confab") -> list[dict]:  # fmt: skip
        return step_batches(seqs, step, tok, rng, layout, self.pairs)

    # validation: sums over micro-batches (after forward on each), then the figures
    def tally(self, batch: dict, sums: dict) -> None:
        n = loss_terms(batch)
        sums["nll"] = sums.get("nll", 0.0) + self.last["nll"] * n
        sums["tokens"] = sums.get("tokens", 0) + n

    def summary(self, sums: dict) -> dict:
        nll = sums.get("nll", 0.0) / max(sums.get("tokens", 0), 1)
        return {"nll": nll, "ppl": math.exp(min(nll, 50)), "tokens": sums.get("tokens", 0)}


class Generation(Stage):
    name, network = "1", Generator

    def __init__(self, model: Generator, heads_lr: float = 1.0):
        super().__init__(model, heads_lr)
        if model.config.latent_k:
            raise InvalidInput("stage 1 trains a generator without latent (latent_k 0); this one has "
                               f"{model.config.latent_k}: it is a stage-2.1 model")  # fmt: skip

    def loss_terms(self, batch: dict) -> dict[str, torch.Tensor]:
        start = int(batch["prefix"].min())  # the first response column of any row: the loss reads nothing before
        hidden = self.model(batch, _mask(batch, causal=True), outputs_from=start)
        return {"nll": _nll(self.model, hidden, batch, response_targets(batch)[:, start:])}


class LatentGeneration(Stage):
    name, network, new_heads = "2.1", Generator, ("latents", "recognize", "bow")

    def __init__(self, model: Generator, heads_lr: float = 1.0, latent_diversity: float = 0.0):
        super().__init__(model, heads_lr)
        if model.recognize is None:
            why = "a release's: its training-only heads were not published" if model.config.latent_k else "no latent"
            raise InvalidInput(f"stage 2.1 needs a generator with latent act recognition; this one has none ({why})")
        self.latent_diversity = latent_diversity

    def loss_terms(self, batch: dict) -> dict[str, torch.Tensor]:
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

    def tally(self, batch: dict, sums: dict) -> None:
        super().tally(batch, sums)
        sums.setdefault("posteriors", []).append(self.posterior)

    def summary(self, sums: dict) -> dict:
        out = super().summary(sums)
        if sums.get("posteriors"):
            out.update(latent_diagnostics(torch.cat(sums["posteriors"])))
        return out


class Evaluation(Stage):
    """Micro-batches of positive and random-response sequences with `label` (1/0) and `mlm_targets`."""

    name, network, pairs, metric = "2.2", Evaluator, True, ("accuracy", True)
    new_heads = ("coherence", "similarity")  # a pretrained encoder's pooler is not new

    def __init__(self, model: Evaluator, heads_lr: float = 1.0, mlm_weight: float = 1.0):
        super().__init__(model, heads_lr)
        self.mlm_weight = mlm_weight
        if not mlm_weight:  # no masked LM: the LM head's own weights get no gradient (DDP needs each trained one used)
            model.lm_transform.requires_grad_(False)
            model.lm_bias.requires_grad_(False)

    def loss_terms(self, batch: dict) -> dict[str, torch.Tensor]:
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

    def tally(self, batch: dict, sums: dict) -> None:
        n = len(batch["label"])
        sums["correct"] = sums.get("correct", 0) + int((self.predicted.cpu() == batch["label"]).sum())
        sums["count"] = sums.get("count", 0) + n
        sums["mlm"] = sums.get("mlm", 0.0) + self.last.get("mlm", 0.0) * n

    def summary(self, sums: dict) -> dict:
        count = sums.get("count", 0)
        return {"accuracy": sums.get("correct", 0) / max(count, 1), "mlm_loss": sums.get("mlm", 0.0) / max(count, 1),
                "n": count // 2}  # fmt: skip


STAGES = {cls.name: cls for cls in (Generation, LatentGeneration, Evaluation)}


def make_stage(name: str, model: UnifiedTransformer, heads_lr: float = 1.0, mlm_weight: float = 1.0,
               latent_diversity: float = 0.0) -> Stage:  # fmt: skip
    """Stage `name` ("1", "2.1" or "2.2") over `model`, with the weights that stage takes."""
    if name not in STAGES:
        raise InvalidInput(f"unknown stage {name!r}; stages: {', '.join(STAGES)}")
    if name == "2.1":
        return LatentGeneration(model, heads_lr, latent_diversity)
    if name == "2.2":
        return Evaluation(model, heads_lr, mlm_weight)
    return Generation(model, heads_lr)


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


def in_batch_ranking(model: Evaluator, hidden: torch.Tensor, batch: dict) -> torch.Tensor:
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
