"""Scoring candidates for contexts: the trained ranker (dot products) and the TF-IDF baseline."""

from __future__ import annotations

import numpy as np
import torch

from confab.retrieval.batches import context_batch, response_batch
from confab.retrieval.model import PersonaRanker
from confab.retrieval.tokens import join_turns
from confab.text import tokenize


class RankerScorer:
    """Scores with a PersonaRanker: joint(context, persona) . encode(candidate)."""

    def __init__(self, model: PersonaRanker, tokenizer, batch_size: int = 64):
        self.model, self.tokenizer, self.batch_size = model, tokenizer, batch_size

    @torch.no_grad()
    def encode_contexts(self, examples: list[dict]) -> torch.Tensor:
        out = []
        for i in range(0, len(examples), self.batch_size):
            batch = context_batch(examples[i : i + self.batch_size], self.tokenizer, self.model.config)
            out.append(self.model.encode_context(batch["context"], batch["context_mask"], batch.get("persona"),
                                                 batch.get("persona_mask")))  # fmt: skip
        return torch.cat(out) if out else torch.zeros(0, 1)

    @torch.no_grad()
    def encode_responses(self, texts: list[str]) -> torch.Tensor:
        # batches of similar lengths pad little: an index's responses run from 2 words to 60
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = []
        for i in range(0, len(texts), self.batch_size * 4):
            chunk = [texts[j] for j in order[i : i + self.batch_size * 4]]
            batch = response_batch(chunk, self.tokenizer, self.model.config)
            out.append(self.model.encode_response(batch["response"], batch["response_mask"]))
        if not out:
            return torch.zeros(0, 1)
        encoded = torch.cat(out)
        return encoded[torch.argsort(torch.tensor(order))]  # back to the order of `texts`

    def __call__(self, examples: list[dict], candidates: list[list[str]]) -> list[np.ndarray]:
        unique = sorted({c for cands in candidates for c in cands})
        position = {c: i for i, c in enumerate(unique)}
        responses = self.encode_responses(unique)
        joint = self.encode_contexts(examples)
        return [
            (responses[[position[c] for c in cands]] @ joint[i]).float().numpy() for i, cands in enumerate(candidates)
        ]


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
