"""A retrieval chatbot: the persona ranker over a candidate index, behind the Agent interface."""

from __future__ import annotations

import time
from pathlib import Path

from confab.agents import Candidate, Reply
from confab.retrieval import checkpoint
from confab.retrieval.index import CandidateIndex
from confab.retrieval.score import RankerScorer


class RetrievalAgent:
    def __init__(self, model_dir: str | Path, index_dir: str | Path, top_k: int = 10):
        model, tokenizer, self.meta = checkpoint.load(model_dir)
        self.scorer = RankerScorer(model, tokenizer)
        self.index = CandidateIndex(index_dir)
        self.top_k = top_k
        similarity = "cosine" if model.config.similarity == "cosine" else "dot product"
        self.scored_by = f"{similarity} of the context and response encodings"

    def respond(self, history: list[str], persona: list[str]) -> Reply:
        return self.respond_batch([(history, persona)])[0]

    def respond_batch(self, requests: list[tuple[list[str], list[str]]]) -> list[Reply]:
        """Replies to several (history, persona) requests: one encoder pass and one index search for all."""
        start = time.perf_counter()
        examples = [{"context": history[-8:] or [""], "persona": persona} for history, persona in requests]
        joint = self.scorer.encode_contexts(examples).float().numpy()
        replies = []
        for found in self.index.search(joint, self.top_k):
            candidates = [Candidate(text, score) for text, score in found]
            replies.append(Reply(candidates[0].text if candidates else "", candidates, 0.0))
        seconds = time.perf_counter() - start
        return [Reply(r.text, r.candidates, seconds) for r in replies]
