"""Scoring candidates for contexts: the trained ranker (dot products or cosines) and the TF-IDF baseline."""

from __future__ import annotations

import numpy as np
import torch

from confab.devices import model_device
from confab.precision import choose
from confab.retrieval.batches import context_texts, encode_texts, persona_texts, token_limit
from confab.retrieval.model import PersonaRanker, Query
from confab.retrieval.tokens import join_turns
from confab.text import tokenize


class RankerScorer:
    """Scores with a PersonaRanker. Each distinct text of a call (a turn, a persona sentence, a candidate) is
    encoded once, in batches of similar lengths: personas repeat over a dialogue's turns, turns over its
    examples, candidates over the examples of a file. Everything is computed where the model is; `precision` as
    `confab.precision.choose` says for that device (bfloat16 autocast where it computes bfloat16 fast)."""

    def __init__(self, model: PersonaRanker, tokenizer, batch_size: int = 256, precision: str = "auto",
                 cache_size: int = 100_000):  # fmt: skip
        self.model, self.tokenizer, self.batch_size = model, tokenizer, batch_size
        self.device = model_device(model)
        self.precision = choose(precision, self.device)
        self.encoded = 0  # texts through the encoder, for the tests and benchmarks
        # (role, text) -> vector, across calls: an evaluation's calls share candidates and personas; emptied when
        # full (100,000 vectors of 384 floats: 150 MB). The model must not change while the scorer is in use.
        self._cache: dict[tuple[str, str], torch.Tensor] = {}
        self.cache_size = cache_size

    @torch.no_grad()
    def encode_texts(self, texts: list[str], role: str) -> torch.Tensor:
        """Vectors [n, d] of these texts, each distinct one encoded once; float32."""
        limit, keep_end = token_limit(self.model.config, role)
        distinct = list(dict.fromkeys(texts))
        if len(self._cache) + len(distinct) > self.cache_size:
            self._cache.clear()
        todo = [t for t in distinct if (role, t) not in self._cache]
        # batches of similar lengths pad little: texts run from 2 words to 60
        todo.sort(key=len)
        for i in range(0, len(todo), self.batch_size):
            chunk = todo[i : i + self.batch_size]
            ids, mask = encode_texts(self.tokenizer, chunk, limit, keep_end)
            ids, mask = ids.to(self.device), mask.to(self.device)
            with self.precision.autocast():
                vectors = self.model.encode(ids, mask, role).float()
            self._cache.update(zip(((role, t) for t in chunk), vectors, strict=True))
            self.encoded += len(chunk)
        if not texts:
            return torch.zeros(0, self.model.context_encoder.dim, device=self.device)
        return torch.stack([self._cache[role, t] for t in texts])

    def encode_responses(self, texts: list[str]) -> torch.Tensor:
        return self.encode_texts(texts, "response")

    @torch.no_grad()
    def encode_queries(self, examples: list[dict]) -> Query:
        """The query of each (context, persona) example."""
        config = self.model.config
        contexts = [context_texts(e, config) for e in examples]
        personas = [persona_texts(e, config) for e in examples]
        turns, turn_mask = self._slots(contexts, "context")
        memories, memory_mask = self._slots(personas, "persona") if any(personas) else (None, None)
        return self.model.query(turns, turn_mask, memories, memory_mask)

    def _slots(self, lists: list[list[str]], role: str) -> tuple[torch.Tensor, torch.Tensor]:
        flat = [t for x in lists for t in x]
        vectors = self.encode_texts(flat, role)
        n = max(len(x) for x in lists)
        out = vectors.new_zeros(len(lists), n, vectors.size(-1))
        mask = torch.zeros(len(lists), n, dtype=torch.bool, device=self.device)
        at = 0
        for i, x in enumerate(lists):
            out[i, : len(x)], mask[i, : len(x)] = vectors[at : at + len(x)], True
            at += len(x)
        return out, mask

    @torch.no_grad()
    def __call__(self, examples: list[dict], candidates: list[list[str]]) -> list[np.ndarray]:
        unique = list(dict.fromkeys(c for cands in candidates for c in cands))
        position = {c: i for i, c in enumerate(unique)}
        responses = self.encode_responses(unique)
        query = self.encode_queries(examples)
        out = []
        for i, cands in enumerate(candidates):
            one = Query(*(None if x is None else x[i : i + 1] for x in query))
            out.append(self.model.scores(one, responses[[position[c] for c in cands]])[0].cpu().numpy())
        return out


class TfidfScorer:
    """The IR baseline: cosine similarity of TF-IDF vectors of the context alone and each candidate."""

    def __init__(self, corpus: list[str]):
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.vectorizer = TfidfVectorizer(tokenizer=_lower_tokens, lowercase=False, token_pattern=None)
        self.vectorizer.fit(corpus)

    def __call__(self, examples: list[dict], candidates: list[list[str]]) -> list[np.ndarray]:
        contexts = self.vectorizer.transform([join_turns(e["context"]) for e in examples])
        out = []
        for i, cands in enumerate(candidates):
            out.append((self.vectorizer.transform(cands) @ contexts[i].T).toarray().ravel())
        return out


def _lower_tokens(text: str) -> list[str]:
    return [t.lower() for t in tokenize(text)]
