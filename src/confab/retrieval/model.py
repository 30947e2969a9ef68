"""The persona-based ranking network of Mazaré et al. (figure 1), with the context put together by config.

turns of the context --encoder--> t_1..t_K ── weighted sum ──> q ──┐
persona sentences --encoder or bag-of-words--> m_1..m_N ──1-hop memory──> q + g * sum_i softmax(q . m_i) m_i = joint
candidate --encoder--> r ;  score = joint . r + w * max_i m_i . r

The paper reads the context as one text (`context="flat"`) and has the gate g fixed at 1 and no w. With a
pretrained sentence encoder the latest turns read one by one (`context="turns"`) rank better than one flat text,
and the candidate's best match among the persona sentences adds most (benchmarks/README.md, "Context
construction"). g and w are learnt from their configured starts; g = 0 makes an untrained memory the identity.

Training maximises the log-likelihood of the correct response under a softmax over the scores of every response
of the mini-batch (the others are the negatives).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from confab.config import check_fields
from confab.errors import InvalidInput
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
    # The context: "turns", its last `context_turns` turns encoded one by one and summed, the latest with weight
    # 1 and each earlier one with `turn_decay` times the weight of the one after it (learnt from there); "flat",
    # its last `context_turns` turns (None: all that fit) joined into one text, as the paper and ParlAI read it.
    context: Literal["turns", "flat"] = "turns"
    context_turns: int | None = 2
    turn_decay: float = 0.15
    # The persona: "memory", the 1-hop memory network; "text", its sentences joined before a flat context, as
    # ParlAI's models read "your persona:" lines.
    persona_as: Literal["memory", "text"] = "memory"
    # where the learnt weights of the memory start: the gate g on the hop's output (0: the identity, so an
    # untrained memory cannot hurt) and w on a candidate's best match among the persona sentences
    memory_gate: float = 0.0
    persona_match: float = 0.0

    def __post_init__(self) -> None:
        check_fields(self)
        if self.context_turns is not None and self.context_turns < 1:
            raise InvalidInput(f"context_turns: {self.context_turns}; give 1 or more, or None for all (flat)")
        if self.context == "turns" and self.context_turns is None:
            raise InvalidInput("context='turns' needs context_turns: one weight is learnt per turn")
        if self.persona_as == "text" and self.context != "flat":
            raise InvalidInput("persona_as='text' joins the persona to a flat context: set context='flat'")

    @property
    def similarity_name(self) -> str:
        """How scores are described to a user: "cosine" or "dot product"."""
        return "cosine" if self.similarity == "cosine" else "dot product"


class Query(NamedTuple):
    """What a context and its persona score candidates with."""

    vector: torch.Tensor  # [B, d]: the joint representation
    memories: torch.Tensor | None  # [B, N, d]: the persona sentences (None: no persona memory)
    memory_mask: torch.Tensor | None  # [B, N]


class PersonaMemory(nn.Module):
    """A 1-hop memory network with a gated residual connection: the context queries the persona sentences."""

    def __init__(self, gate: float = 1.0):
        super().__init__()
        self.gate = nn.Parameter(torch.tensor(float(gate)))

    def forward(self, query: torch.Tensor, memories: torch.Tensor, memory_mask: torch.Tensor) -> torch.Tensor:
        # query [B, d], memories [B, N, d], memory_mask [B, N]
        read = torch.einsum("bn,bnd->bd", self.weights(query, memories, memory_mask), memories)
        return query + self.gate.to(read.dtype) * read

    @staticmethod
    def weights(query: torch.Tensor, memories: torch.Tensor, memory_mask: torch.Tensor) -> torch.Tensor:
        logits = torch.einsum("bd,bnd->bn", query, memories).masked_fill(~memory_mask, float("-inf"))
        return torch.softmax(logits, dim=-1).nan_to_num(0.0)  # a user without persona reads nothing


class PersonaRanker(nn.Module):
    def __init__(self, config: RankerConfig, body: nn.Module | None = None):
        super().__init__()
        self.config = config
        c = config
        if c.encoder == "pretrained":
            if body is None:
                raise InvalidInput("the pretrained encoder needs its transformer (transformer.bert.load_encoder)")
            # One encoder for context and response (a siamese bi-encoder): two copies would double the size.
            self.context_encoder = PretrainedEncoder(body, c.tuned_layers)
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
        self.memory = PersonaMemory(c.memory_gate)
        self.match = nn.Parameter(torch.tensor(float(c.persona_match)))
        turns = c.context_turns if c.context == "turns" else 1
        self.turn_weights = nn.Parameter(torch.tensor([c.turn_decay**k for k in range(turns)]))

    def _encoder(self, embeddings: nn.Embedding) -> nn.Module:
        c = self.config
        if c.encoder == "bow":
            return BowEncoder(embeddings, c.hidden)
        if c.encoder == "lstm":
            return LstmEncoder(embeddings, c.lstm_hidden, 2, c.dropout)
        if c.encoder == "transformer":
            return TransformerEncoder(embeddings, c.layers, c.heads, c.ffn, c.dropout)
        raise InvalidInput(f"unknown encoder '{c.encoder}'; encoders: bow, lstm, transformer, pretrained")

    @property
    def reads_memory(self) -> bool:
        return self.config.use_persona and self.config.persona_as == "memory"

    def encode(self, ids: torch.Tensor, mask: torch.Tensor, role: Literal["context", "persona", "response"]):
        """Texts' ids, mask [n, T] -> vectors [n, d], unit vectors for cosine models: a context turn, a persona
        sentence or a candidate response."""
        if role == "response":
            x = self.response_encoder(ids, mask)
        elif role == "persona" and self.persona_proj is not None:
            x = (self.persona_proj(self.embeddings(ids)) * mask.unsqueeze(-1)).sum(1)
        else:
            x = self.context_encoder(ids, mask)
        return F.normalize(x, dim=-1) if self.config.similarity == "cosine" else x

    def query(self, turns: torch.Tensor, turn_mask: torch.Tensor, memories: torch.Tensor | None = None,
              memory_mask: torch.Tensor | None = None) -> Query:  # fmt: skip
        """Encoded turns [B, K, d] (the latest first) and persona sentences [B, N, d], with their masks [B, K]
        and [B, N], to the query that scores candidates."""
        weights = self.turn_weights[: turns.size(1)].to(turns.dtype) * turn_mask.to(turns.dtype)
        vector = torch.einsum("bk,bkd->bd", weights, turns)
        if not self.reads_memory or memories is None or memories.size(1) == 0:
            return Query(self._finish(vector), None, None)
        vector = self.memory(vector, memories, memory_mask)
        return Query(self._finish(vector), memories, memory_mask)

    def scores(self, query: Query, responses: torch.Tensor) -> torch.Tensor:
        """Each context's score of each response: responses [R, d] shared by all, or [B, R, d] each its own."""
        if responses.dim() == 2:
            responses = responses.unsqueeze(0).expand(query.vector.size(0), -1, -1)
        responses = responses.to(query.vector.dtype)
        out = torch.einsum("bd,brd->br", query.vector, responses)
        if query.memories is not None:
            # a candidate's best match among the persona sentences (hard attention; 0 without a persona)
            per = torch.einsum("bnd,brd->bnr", query.memories.to(responses.dtype), responses)
            per = per.masked_fill(~query.memory_mask.unsqueeze(-1), float("-inf")).amax(1)
            per = per.masked_fill(~query.memory_mask.any(1, keepdim=True), 0.0)
            out = out + self.match.to(out.dtype) * per
        return out

    def _finish(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=-1) if self.config.similarity == "cosine" else x

    def encode_slots(self, ids: torch.Tensor, mask: torch.Tensor, role: str) -> tuple[torch.Tensor, torch.Tensor]:
        """ids, mask [B, N, T] of N slots (turns or persona sentences), some empty -> vectors [B, N, d] and
        which slots hold a text [B, N]; empty slots are not encoded."""
        b, n, t = ids.shape
        present = mask.any(-1)
        flat = present.view(-1)
        out = torch.zeros(b * n, self.context_encoder.dim, device=ids.device)
        if flat.any():
            out[flat] = self.encode(ids.view(b * n, t)[flat], mask.view(b * n, t)[flat], role).to(out.dtype)
        return out.view(b, n, -1), present

    def encode_query(self, batch: dict[str, torch.Tensor]) -> Query:
        """The query of a batch of `batches.context_batch`."""
        turns, turn_mask = self.encode_slots(batch["context"], batch["context_mask"], "context")
        memories = memory_mask = None
        if self.reads_memory and batch.get("persona") is not None:
            memories, memory_mask = self.encode_slots(batch["persona"], batch["persona_mask"], "persona")
        return self.query(turns, turn_mask, memories, memory_mask)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The in-batch softmax loss: every other response of the batch is a negative. Under torchrun each rank
        holds a shard of the batch and the responses of all shards are gathered (gradients flow back to their
        ranks), so the negatives and the loss are the single-process ones."""
        query = self.encode_query(batch)
        responses = self.encode(batch["response"], batch["response_mask"], "response")
        first = 0
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            from torch.distributed.nn.functional import all_gather

            shards = all_gather(responses)
            first = sum(len(s) for s in shards[: dist.get_rank()])
            responses = torch.cat(shards)
        scores = self.scores(query, responses)
        if self.config.similarity == "cosine":
            scores = scores * self.config.scale
        targets = torch.arange(first, first + scores.size(0), device=scores.device)
        return F.cross_entropy(scores.float(), targets)
