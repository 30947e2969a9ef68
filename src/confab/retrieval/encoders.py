"""Sentence encoders of Mazaré et al. section 4.2: (ids [B, T], mask [B, T]) -> vectors [B, d].

Context and response encoders share the word embeddings (passed in) and differ above them.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from confab.errors import InvalidInput
from confab.transformer.model import ROLE_PARTNER, UnifiedTransformer


class BowEncoder(nn.Module):
    """Two linear projections with a tanh between, applied to each word embedding, summed over the positions
    and divided by sqrt(n)."""

    def __init__(self, embeddings: nn.Embedding, dim: int):
        super().__init__()
        self.embeddings = embeddings
        self.proj = nn.Sequential(nn.Linear(embeddings.embedding_dim, dim), nn.Tanh(), nn.Linear(dim, dim))
        self.dim = dim

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.proj(self.embeddings(ids)) * mask.unsqueeze(-1)
        n = mask.sum(1, keepdim=True).clamp(min=1)
        return x.sum(1) / n.sqrt()


class LstmEncoder(nn.Module):
    """A 2-layer bidirectional LSTM; the last hidden states of both directions and both layers are concatenated
    (hidden 150 -> 600)."""

    def __init__(self, embeddings: nn.Embedding, hidden: int = 150, layers: int = 2, dropout: float = 0.0):
        super().__init__()
        self.embeddings = embeddings
        self.lstm = nn.LSTM(
            embeddings.embedding_dim, hidden, num_layers=layers, bidirectional=True, batch_first=True, dropout=dropout
        )
        self.dim = 2 * layers * hidden

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        lengths = mask.sum(1).clamp(min=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(
            self.embeddings(ids), lengths, batch_first=True, enforce_sorted=False
        )
        _, (h, _) = self.lstm(packed)  # h: [layers * 2, B, hidden]
        return h.transpose(0, 1).reshape(ids.size(0), -1)


class TransformerEncoder(nn.Module):
    """A transformer encoder (learned positions), averaged over the non-padding positions."""

    def __init__(
        self,
        embeddings: nn.Embedding,
        layers: int = 4,
        heads: int = 6,
        ffn: int = 1200,
        dropout: float = 0.1,
        max_len: int = 512,
    ):
        super().__init__()
        d = embeddings.embedding_dim
        self.embeddings = embeddings
        self.positions = nn.Embedding(max_len, d)
        layer = nn.TransformerEncoderLayer(d, heads, ffn, dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.dim = d

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(ids.size(1), device=ids.device)
        x = self.embeddings(ids) * math.sqrt(self.dim) + self.positions(positions)
        x = self.norm(self.encoder(x, src_key_padding_mask=~mask))
        m = mask.unsqueeze(-1).to(x.dtype)
        return (x * m).sum(1) / m.sum(1).clamp(min=1)


class PretrainedEncoder(nn.Module):
    """A pretrained BERT-style sentence encoder (all-MiniLM-L6-v2) in confab's transformer, the body PLATO-2 runs
    too (`transformer.model`, loaded by `transformer.bert`): the sentence read bidirectionally as BERT's first
    segment, mean-pooled as it was trained."""

    def __init__(self, body: UnifiedTransformer, tuned_layers: int | None = None):
        super().__init__()
        self.body = body
        self.dim = body.config.hidden
        # a sentence has no turns, and a sentence encoder no LM head: they get no gradient (nor DDP's wait for one)
        for unused in (body.turns, body.lm_transform, body.lm_bias):
            if unused is not None:
                unused.requires_grad_(False)
        if tuned_layers is not None:
            blocks = body.blocks
            if not 0 <= tuned_layers <= len(blocks):
                raise InvalidInput(f"tuned_layers: {tuned_layers}; the pretrained encoder has {len(blocks)} layers")
            body.requires_grad_(False)
            for block in blocks[len(blocks) - tuned_layers :]:
                block.requires_grad_(True)

    @property
    def embeddings(self) -> nn.Embedding:
        return self.body.tokens

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        rows, width = ids.shape
        inputs = {"tokens": ids, "roles": torch.full_like(ids, ROLE_PARTNER), "turns": torch.zeros_like(ids),
                  "positions": torch.arange(width, device=ids.device).expand(rows, width)}  # fmt: skip
        # every real token sees every other; a padding query sees itself only, so that no row is empty
        attend = (mask[:, None, :] & mask[:, :, None]) | torch.eye(width, dtype=torch.bool, device=ids.device)
        x = self.body(inputs, attend)
        m = mask.unsqueeze(-1).to(x.dtype)
        return (x * m).sum(1) / m.sum(1).clamp(min=1)
