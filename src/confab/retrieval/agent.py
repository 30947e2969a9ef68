"""A retrieval chatbot: the persona ranker over a candidate index, behind the Agent interface."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from confab.devices import resolve
from confab.replies import Candidate, Reply
from confab.retrieval import checkpoint
from confab.retrieval.index import CandidateIndex
from confab.retrieval.model import Query
from confab.retrieval.score import RankerScorer
from confab.text.overlap import repeats

# a model that scores a candidate by its match with the persona as well re-ranks this many of the index's best
# by the context's vector (at least top_k): the index searches by one vector, not by the whole score
RERANK = 100
# candidates that say again a turn of the dialogue (confab.text.overlap.repeats) are never replies ("What do you do
# for a living?" answered by itself, or by "Same to you! What do you do for a living?"): this many more are searched
# first, and four times more each time fewer than top_k are left after removing them
REPEATS = 16


class RetrievalAgent:
    def __init__(self, model_dir: str | Path, index_dir: str | Path, top_k: int = 10, precision: str = "auto",
                 device: str = "auto"):  # fmt: skip
        model, tokenizer, self.meta = checkpoint.load(model_dir)
        self.scorer = RankerScorer(model.to(resolve(device)), tokenizer, precision=precision)
        self.index = CandidateIndex(index_dir)
        self.top_k = top_k
        self.scored_by = f"{model.config.similarity_name} of the context and response encodings"

    def respond(self, history: list[str], persona: list[str]) -> Reply:
        return self.respond_batch([(history, persona)])[0]

    def respond_batch(self, requests: list[tuple[list[str], list[str]]]) -> list[Reply]:
        """Replies to several (history, persona) requests: one encoder pass and one index search for all."""
        start = time.perf_counter()
        examples = [{"context": history or [""], "persona": persona} for history, persona in requests]
        query = self.scorer.encode_queries(examples)
        vectors = query.vector.float().cpu().numpy()  # the index searches on the CPU (FAISS)
        wanted = self.top_k + REPEATS
        while True:
            if query.memories is None or self.scorer.model.match.item() == 0.0:
                found = self.index.search(vectors, wanted)
            else:
                found = self._rerank(query, vectors, wanted)
            fresh = [[(text, score) for text, score in best if not _repeats(text, history)]
                     for best, (history, _) in zip(found, requests, strict=True)]  # fmt: skip
            # an index full of one question's variants ("Nice! What do you do for a living?") can fill the first
            # candidates with repeats: search further until top_k are left or the index is exhausted
            if all(len(f) >= self.top_k for f in fresh) or wanted >= len(self.index):
                break
            wanted *= 4
        replies = []
        for best in fresh:
            candidates = [Candidate(text, score) for text, score in best][: self.top_k]
            replies.append(Reply(candidates[0].text if candidates else "", candidates, 0.0))
        seconds = time.perf_counter() - start
        return [Reply(r.text, r.candidates, seconds) for r in replies]

    @torch.no_grad()
    def _rerank(self, query: Query, vectors: np.ndarray, wanted: int) -> list[list[tuple[str, float]]]:
        _, ids = self.index.search_ids(vectors, max(RERANK, wanted))
        out = []
        for i, row in enumerate(ids):
            row = row[row >= 0]
            one = Query(*(None if x is None else x[i : i + 1] for x in query))
            found = torch.from_numpy(self.index.vectors(row)).to(self.scorer.device)
            scores = self.scorer.model.scores(one, found)[0].cpu().numpy()
            best = np.argsort(-scores, kind="stable")[:wanted]
            out.append([(self.index.texts[row[j]], float(scores[j])) for j in best])
        return out


def _repeats(candidate: str, turns: list[str]) -> bool:
    return any(repeats(candidate, turn) for turn in turns)
