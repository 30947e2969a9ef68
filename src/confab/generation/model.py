"""PLATO-2's networks (section 2), as Knover keeps two, over the one transformer body (`transformer.model`):

- `Generator`: the LM head, and in stage 2.1 the discrete latent z (K values): its embeddings, latent act
  recognition p(z|c,r) and the bag-of-words head (the last two are training-only: the released models lack them);
- `Evaluator` (stage 2.2): response coherence p(l|c,r), from a pooled state (joint) or the cosine of the context's
  and the response's states (dual); the LM head, shared with the body, serves its masked LM.
"""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn

from confab.errors import InvalidInput
from confab.transformer.model import PlatoConfig, UnifiedTransformer


class Generator(UnifiedTransformer):
    """Stages 1 and 2.1: the response given the context (and z). With latent_k > 0: z's embeddings, and, unless
    `recognition` is off, latent act recognition p(z|c,r) (eq. 3) and the bag-of-words head f = W2 h_z + b2
    (eq. 5)."""

    network = "generator"

    def __init__(self, config: PlatoConfig):
        super().__init__(config)
        c, trained = config, config.latent_k > 0 and config.recognition
        self._add(latents=nn.Embedding(c.latent_k, c.hidden) if c.latent_k else None)
        self.recognition_norm = (
            nn.BatchNorm1d(c.hidden, affine=False) if trained and c.recognition_norm else nn.Identity()
        )
        self._add(recognize=nn.Linear(c.hidden, c.latent_k) if trained else None,
                  bow=nn.Linear(c.hidden, c.vocab_size) if trained else None)  # fmt: skip

    def heads(self) -> tuple[str, ...]:
        return tuple(n for n in ("latents", "recognition_norm", "recognize", "bow")
                     if isinstance(getattr(self, n), nn.Embedding | nn.Linear | nn.BatchNorm1d))  # fmt: skip

    def scale_latents(self) -> None:
        """z's embeddings at the scale of the word embeddings they stand in for in the slot: at the default std
        of 0.02 they were a third of a pretrained encoder's word norm, drowned in the position and role embeddings
        (stage 2.1 collapsed)."""
        nn.init.normal_(self.latents.weight, std=float(self.tokens.weight.detach().float().std()))

    def recognition_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """p(z|c,r) logits [B, K] from the final states of the [M] slot (column 0) read bidirectionally."""
        if self.recognize is None:
            raise InvalidInput("this generator has no latent act recognition (a stage-1 model, or a release whose "
                               "training-only heads were not published)")  # fmt: skip
        x, norm = hidden[:, 0].float(), self.recognition_norm
        if isinstance(norm, nn.BatchNorm1d):  # a micro-batch of one example is standardised by the running stats
            training = self.training and len(x) > 1
            # statistics are updated in place in training (float32); read in float32 from a bfloat16 model
            mean, var = (
                (norm.running_mean, norm.running_var)
                if training
                else (norm.running_mean.float(), norm.running_var.float())
            )
            x = F.batch_norm(x, mean, var, training=training, momentum=norm.momentum, eps=norm.eps)
        return self.recognize(x.to(hidden.dtype))

    def latent_embedding(self, weights: torch.Tensor) -> torch.Tensor:
        """The slot embedding for a (soft or one-hot) distribution over the K latent values: weights @ E_z."""
        return weights.to(self.latents.weight.dtype) @ self.latents.weight


class Evaluator(UnifiedTransformer):
    """Stage 2.2: response coherence p(l|c,r) from the pooled states (config.pooling: the [CLS] slot or the mean),
    by a pooler and a classifier (joint) or by a·cos(u, v) + b of the context's and the response's vectors (dual)."""

    network = "evaluator"

    def __init__(self, config: PlatoConfig):
        super().__init__(config)
        c, joint = config, config.coherence == "joint"
        self._add(pooler=nn.Sequential(nn.Linear(c.hidden, c.hidden), nn.Tanh()) if joint else None,
                  coherence=nn.Linear(c.hidden, 2) if joint else None)  # fmt: skip
        self.similarity = None
        if not joint:  # logit of l=1 = a * cos(u, v) + b, the scale and threshold of a sentence encoder's cosines
            self.similarity = nn.Linear(1, 1)
            nn.init.constant_(self.similarity.weight, SIMILARITY_SCALE)
            nn.init.constant_(self.similarity.bias, -SIMILARITY_SCALE * SIMILARITY_THRESHOLD)

    def heads(self) -> tuple[str, ...]:
        return ("pooler", "coherence") if self.similarity is None else ("similarity",)

    def coherence_logits(self, hidden: torch.Tensor, prefix: torch.Tensor, length: torch.Tensor) -> torch.Tensor:
        """p(l|c,r) logits [B, 2] from the final states [B, T, D] of right-padded sequences whose response starts
        at `prefix` [B] and which end at `length` [B] (read as `batches.coherence_view` lays them out)."""
        if self.config.coherence == "dual":
            return self.pair_logits(*self.pair_vectors(hidden, prefix, length))
        if self.config.pooling == "first":
            return self.coherence(self.pooler(hidden[:, 0]))
        return self.coherence(self.pooler(_mean(hidden, 0, length)))

    def pair_logits(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Dual coherence logits [B, 2] of context vectors u and response vectors v [B, D]: l=1 at a·cos(u, v) + b."""
        scale, bias = self.similarity.weight.float()[0], self.similarity.bias.float()
        logit = F.cosine_similarity(u, v, dim=-1)[:, None] * scale + bias
        return torch.cat([torch.zeros_like(logit), logit], dim=-1)

    def pair_vectors(self, hidden: torch.Tensor, prefix: torch.Tensor, length: torch.Tensor):
        """Dual coherence: the context's vector u (slot and context; the first state or the mean, as `pooling`
        says) and the response's v ([BOS] response [EOS]), each [B, D] in float32."""
        hidden = hidden.float()
        if self.config.pooling == "first":
            rows = torch.arange(hidden.size(0), device=hidden.device)
            return hidden[:, 0], hidden[rows, prefix]
        return _mean(hidden, 0, prefix), _mean(hidden, prefix, length)


NETWORKS = {cls.network: cls for cls in (Generator, Evaluator)}


def network(name: str, config: PlatoConfig) -> UnifiedTransformer:
    if name not in NETWORKS:
        raise InvalidInput(f"network {name!r}: {' or '.join(NETWORKS)}")
    return NETWORKS[name](config)


def as_network(model: UnifiedTransformer, name: str, **changes) -> UnifiedTransformer:
    """`model`'s body (and the heads both have) in a `name` network whose config differs by `changes`: the heads
    it adds start as a new model's, the heads it lacks are left behind (stage 2.1 from stage 1 gains z; the
    evaluator from stage 1 gains coherence)."""
    new = network(name, replace(model.config, **changes))
    own = new.state_dict()
    kept = {k: v for k, v in model.state_dict().items() if k in own and v.shape == own[k].shape}
    new.load_state_dict(kept, strict=False)
    return new.to(model.device)


SIMILARITY_SCALE, SIMILARITY_THRESHOLD = 20.0, 0.3  # cosines of all-MiniLM-L6-v2: true replies ~0.4, random ~0.1


def _mean(hidden: torch.Tensor, start: torch.Tensor | int, end: torch.Tensor) -> torch.Tensor:
    """The mean of each row's states in columns [start, end)."""
    columns = torch.arange(hidden.size(1), device=hidden.device)[None, :]
    start = torch.as_tensor(start, device=hidden.device).reshape(-1, 1)
    inside = ((columns >= start) & (columns < end[:, None])).to(hidden.dtype)
    return (hidden * inside[..., None]).sum(1) / inside.sum(1, keepdim=True).clamp(min=1)
