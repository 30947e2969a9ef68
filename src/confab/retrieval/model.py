"""The persona-based ranking network of Mazaré et al. (figure 1).

context --encoder--> q ──┐
persona sentences --bag-of-words--> m_1..m_N ──1-hop memory──> q + sum_i softmax(q . m_i) m_i = joint
candidate --encoder--> r ;  score = joint . r

Training maximises the log-likelihood of the correct response under a softmax over the dot products with
every response of the mini-batch (the others are the negatives).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from confab.retrieval.encoders import BowEncoder, LstmEncoder, PretrainedEncoder, TransformerEncoder


@dataclass
class RankerConfig:
    encoder: Literal["bow", "lstm", "transformer", "pretrained"] = "transformer"
    use_persona: bool = True
    vocab_size: int = 0  # set from the tokenizer
    embedding_dim: int = 300
    hidden: int = 300  # bow projection size; lstm hidden size is lstm_hidden
    lstm_hidden: int = 150
    layers: int = 4
    heads: int = 6
    ffn: int = 1200
    dropout: float = 0.1
    max_context_tokens: int = 128
    max_response_tokens: int = 64
    max_persona_tokens: int = 24
    max_persona_sentences: int = 100
    # bow: the paper's cheap persona encoder (a linear layer on the word embeddings, summed); encoder: the
    # context encoder itself, which a pretrained encoder makes worth its cost
    persona_encoder: Literal["bow", "encoder"] = "bow"
    # The paper gives context and response encoders their own weights above the shared embeddings; one shared
    # encoder scores word overlap from the start, which helps when there are only thousands of examples.
    share_encoders: bool = False
    # dot (the paper's) or cosine: unit vectors, scores multiplied by `scale` in the loss, which is the geometry
    # all-MiniLM-L6-v2 was trained in (cosine x 20)
    similarity: Literal["dot", "cosine"] = "dot"
    scale: float = 20.0
    # pretrained encoder: fine-tune only its top N layers (None: all of it). The rest, word embeddings included,
    # stays the installed all-MiniLM-L6-v2, which guards thousands of examples against overfitting and lets the
    # checkpoint store the tuned layers alone (a seventh of the size for N=2).
    tuned_layers: int | None = None


class PersonaMemory(nn.Module):
    """A 1-hop memory network with a residual connection: the context queries the persona sentences."""

    def forward(self, query: torch.Tensor, memories: torch.Tensor, memory_mask: torch.Tensor) -> torch.Tensor:
        # query [B, d], memories [B, N, d], memory_mask [B, N]
        return query + torch.einsum("bn,bnd->bd", self.weights(query, memories, memory_mask), memories)

    @staticmethod
    def weights(query: torch.Tensor, memories: torch.Tensor, memory_mask: torch.Tensor) -> torch.Tensor:
        logits = torch.einsum("bd,bnd->bn", query, memories).masked_fill(~memory_mask, float("-inf"))
        return torch.softmax(logits, dim=-1).nan_to_num(0.0)  # a user without persona reads nothing


class PersonaRanker(nn.Module):
    def __init__(self, config: RankerConfig, bert: nn.Module | None = None):
        super().__init__()
        self.config = config
        c = config
        if c.encoder == "pretrained":
            if bert is None:
                raise ValueError("the pretrained encoder needs its BERT module")
            # One encoder for context and response (a siamese bi-encoder): two copies would double the size.
            self.context_encoder = PretrainedEncoder(bert, c.tuned_layers)
            self.response_encoder = self.context_encoder
            embeddings = self.context_encoder.embeddings
        else:
            embeddings = nn.Embedding(c.vocab_size, c.embedding_dim, padding_idx=0)
            self.context_encoder = self._encoder(embeddings)
            self.response_encoder = self.context_encoder if c.share_encoders else self._encoder(embeddings)
        self.embeddings = embeddings
        dim = self.context_encoder.dim
        # The persona encoder is deliberately cheap: a linear layer on the shared word embeddings, summed.
        self.persona_proj = nn.Linear(embeddings.embedding_dim, dim) if c.persona_encoder == "bow" else None
        self.memory = PersonaMemory()

    def _encoder(self, embeddings: nn.Embedding) -> nn.Module:
        c = self.config
        if c.encoder == "bow":
            return BowEncoder(embeddings, c.hidden)
        if c.encoder == "lstm":
            return LstmEncoder(embeddings, c.lstm_hidden, 2, c.dropout)
        if c.encoder == "transformer":
            return TransformerEncoder(embeddings, c.layers, c.heads, c.ffn, c.dropout)
        raise ValueError(f"unknown encoder '{c.encoder}'; encoders: bow, lstm, transformer, pretrained")

    def encode_persona(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """ids, mask [B, N, T] -> [B, N, d]"""
        if self.persona_proj is None:
            b, n, t = ids.shape
            present = mask.view(b * n, t).any(-1)
            out = torch.zeros(b * n, self.context_encoder.dim, device=ids.device)
            if present.any():
                flat_ids, flat_mask = ids.view(b * n, t)[present], mask.view(b * n, t)[present]
                out[present] = self.context_encoder(flat_ids, flat_mask).to(out.dtype)
            return out.view(b, n, -1)
        x = self.persona_proj(self.embeddings(ids)) * mask.unsqueeze(-1)
        return x.sum(2)

    def encode_context(
        self,
        ids: torch.Tensor,
        mask: torch.Tensor,
        persona_ids: torch.Tensor | None = None,
        persona_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        query = self.context_encoder(ids, mask)
        if self.config.use_persona and persona_ids is not None and persona_ids.size(1) > 0:
            memories = self.encode_persona(persona_ids, persona_mask)
            query = self.memory(query, memories, persona_mask.any(-1))
        return self._finish(query)

    def encode_response(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self._finish(self.response_encoder(ids, mask))

    def _finish(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=-1) if self.config.similarity == "cosine" else x

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The in-batch softmax loss: every other response of the batch is a negative. Under torchrun each rank
        holds a shard of the batch and the responses of all shards are gathered (gradients flow back to their
        ranks), so the negatives and the loss are the single-process ones."""
        joint = self.encode_context(batch["context"], batch["context_mask"], batch.get("persona"),
                                    batch.get("persona_mask"))  # fmt: skip
        responses = self.encode_response(batch["response"], batch["response_mask"])
        first = 0
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            from torch.distributed.nn.functional import all_gather

            shards = all_gather(responses)
            first = sum(len(s) for s in shards[: dist.get_rank()])
            responses = torch.cat(shards)
        scores = joint @ responses.T
        if self.config.similarity == "cosine":
            scores = scores * self.config.scale
        targets = torch.arange(first, first + joint.size(0), device=scores.device)
        return F.cross_entropy(scores.float(), targets)
