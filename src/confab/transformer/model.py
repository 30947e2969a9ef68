"""The transformer both model families run: token, role, turn and position embeddings, blocks whose norm
placement the config sets (pre-norm with a final LayerNorm, PLATO-2's; post-norm with a LayerNorm on the
embeddings, BERT's) and an LM head tied to the token embeddings. It reads a sequence under any attention mask: a
prefix-LM mask for PLATO-2 (the context bidirectionally, the response left to right), the padding alone for a
sentence encoder. PLATO-2's `Generator` and `Evaluator` (generation.model) add their heads to it; the retrieval
family encodes sentences with it (retrieval.encoders); `transformer.bert` gives it a BERT-family encoder's weights.

Every PLATO-2 input starts with one slot position: [M] for latent act recognition, the latent embedding of z when
generating in stage 2.1, [CLS] for the evaluation model (and [M], unused, in stage 1, so that stage 2 starts
from the same layout). Then the persona sentences, the context turns and the response; each position has a
token, a role (responder, partner, persona), a turn (0 for the response, counting back) and a position id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from confab.config import check_fields
from confab.errors import InvalidInput

ROLE_SELF, ROLE_PARTNER, ROLE_PERSONA = 0, 1, 2


@dataclass
class PlatoConfig:
    vocab_size: int = 8000
    layers: int = 12
    hidden: int = 768
    heads: int = 12
    ffn: int = 3072
    max_positions: int = 512
    max_turns: int = 32  # turn ids beyond this are clipped
    roles: int = 3
    # the generator's K, the number of latent values: 0 in stage 1, which has no latent; stage 2.1 adds K of them
    # (20 in the paper: PlatoRun.latent_k)
    latent_k: int = 0
    # a latent generator's training-only heads: recognition p(z|c,r) and bag-of-words (the releases have neither)
    recognition: bool = True
    dropout: float = 0.1
    gumbel_tau: float = 0.67  # the reference code's Gumbel-softmax temperature
    gradient_checkpointing: bool = False  # recompute each block in backward: less memory, ~30% more time
    norm: Literal["pre", "post"] = "pre"  # pre: x + f(LN(x)) and a final LayerNorm (PLATO-2); post: LN(x + f(x)) (BERT)
    norm_eps: float = 1e-5
    embedding_norm: bool = False  # a LayerNorm on the summed embeddings (BERT)
    lm_transform: bool = False  # the LM head's dense + GELU + LayerNorm before the tied embedding (BERT, Knover)
    # what the coherence head reads: the slot's state ("first", PLATO-2 and Knover's NSP) or the mean of every
    # state ("mean", as a sentence encoder such as all-MiniLM-L6-v2 was trained to pool)
    pooling: Literal["first", "mean"] = "first"
    # standardise the [M] state across the batch before latent act recognition: a pretrained encoder's states
    # share one large direction (cosine 0.96 between examples), so the recognition head starts by giving every
    # example the same latent and stage 2.1 collapses (benchmarks/README.md); the reference has no such norm
    recognition_norm: bool = False
    # how the evaluator reads a (context, response) pair: "joint", one sequence read bidirectionally and pooled
    # (PLATO-2's evaluation model, Knover's NSP); "dual", the context and the response each read on its own in the
    # same pass (a block-diagonal mask, positions from 0 in each) and compared by the cosine of their pooled
    # states: what a sentence encoder such as all-MiniLM-L6-v2 was trained for, so it ranks before any training
    coherence: Literal["joint", "dual"] = "joint"
    # the released PLATO-2's layout (Knover): the latent is a bare vector in the slot column, with no position, role
    # or turn embedding, and positions count from the column after it ("bare"; confab's slot is a token with
    # position 0: "token"); no turn embeddings (turn_embeddings False); roles are its two types, context and response
    latent_slot: Literal["token", "bare"] = "token"
    turn_embeddings: bool = True

    def __post_init__(self):
        check_fields(self)
        if self.latent_k < 0:
            raise InvalidInput(f"latent_k: {self.latent_k}; 0 (no latent) or more")


# The paper's three sizes (appendix: 93M, 314M, 1.6B with an 8K vocabulary) and CPU-sized ones.
SIZES = {
    "tiny": dict(layers=2, hidden=64, heads=2, ffn=256, max_positions=256),
    "small": dict(layers=4, hidden=256, heads=4, ffn=1024),
    "93M": dict(layers=12, hidden=768, heads=12, ffn=3072),
    "314M": dict(layers=24, hidden=1024, heads=16, ffn=4096),
    "1.6B": dict(layers=32, hidden=2048, heads=32, ffn=8192),
}


class Attention(nn.Module):
    def __init__(self, c: PlatoConfig):
        super().__init__()
        self.heads, self.dropout = c.heads, c.dropout
        self.qkv = nn.Linear(c.hidden, 3 * c.hidden)
        self.out = nn.Linear(c.hidden, c.hidden)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None, cache: dict | None = None, start: int = 0
    ) -> torch.Tensor:
        """x: [B, T, D]; mask: [B, 1, T, S] (True = may attend; None = everything), S = T plus the cached
        positions. Outputs [B, T - start, D]: only the queries from column `start` on."""
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        if start:
            q, mask = q[:, :, start:], None if mask is None else mask[:, :, start:]
        if cache is not None:  # keys and values written in place into buffers of cache["capacity"] positions
            n = cache.get("n", 0)
            if "k" not in cache:
                size = (b, self.heads, max(cache.get("capacity", 0), t), d // self.heads)
                cache["k"], cache["v"] = k.new_empty(size), v.new_empty(size)
            if n + t > cache["k"].size(2):
                raise InvalidInput(f"key/value cache of {cache['k'].size(2)} positions is full")
            cache["k"][:, :, n : n + t], cache["v"][:, :, n : n + t] = k, v
            cache["n"] = n + t
            k, v = cache["k"][:, :, : n + t], cache["v"][:, :, : n + t]
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0)
        return self.out(y.transpose(1, 2).reshape(b, t - start, d))


class Block(nn.Module):
    """Pre-norm: x + attention(norm1(x)), then x + feed-forward(norm2(x)). Post-norm: norm1(x + attention(x)),
    then norm2(x + feed-forward(x))."""

    def __init__(self, c: PlatoConfig):
        super().__init__()
        self.pre = c.norm == "pre"
        self.norm1, self.attention = nn.LayerNorm(c.hidden, eps=c.norm_eps), Attention(c)
        self.norm2 = nn.LayerNorm(c.hidden, eps=c.norm_eps)
        self.mlp = nn.Sequential(nn.Linear(c.hidden, c.ffn), nn.GELU(), nn.Linear(c.ffn, c.hidden))
        self.drop = nn.Dropout(c.dropout)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None, cache: dict | None = None, start: int = 0
    ) -> torch.Tensor:
        if self.pre:
            x = x[:, start:] + self.drop(self.attention(self.norm1(x), mask, cache, start))
            return x + self.drop(self.mlp(self.norm2(x)))
        x = self.norm1(x[:, start:] + self.drop(self.attention(x, mask, cache, start)))
        return self.norm2(x + self.drop(self.mlp(x)))


class UnifiedTransformer(nn.Module):
    """The body both networks share: embeddings, blocks, the final norm and the LM head tied to the token
    embeddings. `Generator` and `Evaluator` add their heads; `network` names which one a checkpoint holds."""

    network = ""

    def __init__(self, config: PlatoConfig):
        super().__init__()
        c = self.config = config
        self.tokens = nn.Embedding(c.vocab_size, c.hidden)
        self.roles = nn.Embedding(c.roles, c.hidden)
        self.turns = nn.Embedding(c.max_turns, c.hidden) if c.turn_embeddings else None
        self.positions = nn.Embedding(c.max_positions, c.hidden)
        self.embedding_norm = nn.LayerNorm(c.hidden, eps=c.norm_eps) if c.embedding_norm else nn.Identity()
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(Block(c) for _ in range(c.layers))
        self.norm = nn.LayerNorm(c.hidden, eps=c.norm_eps) if c.norm == "pre" else nn.Identity()
        # the LM head is the token embedding, transposed, after an optional transform of the state
        self.lm_transform = (
            nn.Sequential(nn.Linear(c.hidden, c.hidden), nn.GELU(), nn.LayerNorm(c.hidden, eps=c.norm_eps))
            if c.lm_transform
            else nn.Identity()
        )
        self.lm_bias = nn.Parameter(torch.zeros(c.vocab_size))
        self.apply(_init)

    def forward(
        self,
        batch: dict[str, torch.Tensor],
        mask: torch.Tensor | None,
        slot: torch.Tensor | None = None,
        cache: list[dict] | None = None,
        slot_at: torch.Tensor | None = None,
        outputs_from: int = 0,
    ) -> torch.Tensor:
        """Final hidden states [B, T, D] of batch's tokens/roles/turns/positions under `mask` [B, (1,) T, S].
        `slot` [B, D], when given, replaces the token embedding of the slot (the latent z in stage 2.1), which
        is column 0 or, for left-padded rows, column `slot_at` [B]. With `outputs_from`, only the states of
        columns from there on are returned, [B, T - outputs_from, D], and the last block computes no others:
        a loss that reads only the response need not pay for the context's last layer."""
        c = self.config
        x = self.tokens(batch["tokens"])
        rows, column = torch.arange(x.size(0), device=x.device), 0 if slot_at is None else slot_at
        if slot is not None:
            x = x.clone()
            x[rows, column] = slot.to(x.dtype)
        bare = c.latent_slot == "bare"
        positions = (batch["positions"] - 1).clamp(min=0) if bare else batch["positions"]  # the slot takes none
        extra = self.roles(batch["roles"]) + self.positions(positions)
        if self.turns is not None:
            extra = extra + self.turns(batch["turns"].clamp(max=c.max_turns - 1))
        if bare and not (cache is not None and cache[0].get("n", 0) > 0):  # a bare slot column: its vector alone
            extra = extra.clone()
            extra[rows, column] = 0
        x = x + extra
        x = self.drop(self.embedding_norm(x))
        mask = mask[:, None] if mask is not None and mask.dim() == 3 else mask
        for i, block in enumerate(self.blocks):
            start = outputs_from if i == len(self.blocks) - 1 else 0
            if self.config.gradient_checkpointing and self.training and cache is None:
                x = checkpoint(block, x, mask, None, start, use_reentrant=False)
            else:
                x = block(x, mask, None if cache is None else cache[i], start)
        return self.norm(x)

    @property
    def device(self) -> torch.device:
        return self.lm_bias.device

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return F.linear(self.lm_transform(hidden), self.tokens.weight, self.lm_bias)

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def heads(self) -> tuple[str, ...]:
        """The attribute names of the modules this network adds to the body."""
        return ()

    def _add(self, **heads: nn.Module | None) -> None:
        """New heads, drawn after the body (as they were declared), in the order given."""
        for name, module in heads.items():
            setattr(self, name, module)
            if module is not None:
                module.apply(_init)


def _init(module: nn.Module) -> None:
    if isinstance(module, nn.Linear | nn.Embedding):
        nn.init.normal_(module.weight, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)
