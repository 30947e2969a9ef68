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

    def respond(self, history: list[str], persona: list[str]) -> Reply:
        start = time.perf_counter()
        example = {"context": history[-8:] or [""], "persona": persona}
        joint = self.scorer.encode_contexts([example]).float().numpy()
        found = self.index.search(joint, self.top_k)[0]
        candidates = [Candidate(text, score) for text, score in found]
        return Reply(candidates[0].text if candidates else "", candidates, time.perf_counter() - start)
