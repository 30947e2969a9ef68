"""Sentence encoders of Mazaré et al. section 4.2: (ids [B, T], mask [B, T]) -> vectors [B, d].

Context and response encoders share the word embeddings (passed in) and differ above them.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch
from torch import nn

from confab.errors import InvalidInput


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
    """A pretrained BERT-style sentence encoder (all-MiniLM-L6-v2), mean-pooled as it was trained."""

    def __init__(self, bert: nn.Module, tuned_layers: int | None = None):
        super().__init__()
        self.bert = bert
        self.dim = bert.config.hidden_size
        if tuned_layers is not None:
            layers = bert.encoder.layer
            if not 0 <= tuned_layers <= len(layers):
                raise InvalidInput(f"tuned_layers: {tuned_layers}; the pretrained encoder has {len(layers)} layers")
            bert.requires_grad_(False)
            for layer in layers[len(layers) - tuned_layers :]:
                layer.requires_grad_(True)

    @property
    def embeddings(self) -> nn.Embedding:
        return self.bert.embeddings.word_embeddings

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.bert(input_ids=ids, attention_mask=mask.long()).last_hidden_state
        m = mask.unsqueeze(-1).to(x.dtype)
        return (x * m).sum(1) / m.sum(1).clamp(min=1)


def load_bert(folder: Path, weights: bool) -> nn.Module:
    """The BERT module from a folder with config.json (and model.safetensors when `weights`), offline."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoConfig, AutoModel
    from transformers.utils import logging

    if weights:
        logging.disable_progress_bar()  # a bar per load would clutter chats and servers
        return AutoModel.from_pretrained(str(folder))
    return AutoModel.from_config(AutoConfig.from_pretrained(str(folder)))
