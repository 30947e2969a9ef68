"""hits@k and MRR of a scorer: the correct response among the file's candidates (PERSONA-CHAT: 20), or among N
(Reddit: 100) made of the correct one and N-1 other responses of the same split, drawn with a fixed seed."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from confab.errors import InvalidInput
from confab.ranking import Scorer, rank_of, ranking_metrics


def candidate_sets(examples: list[dict], n: int | None, seed: int) -> tuple[list[list[str]], list[int]]:
    """Candidates and the index of the correct one for each example."""
    if n is None and examples and all(e.get("candidates") for e in examples):
        return [list(e["candidates"]) for e in examples], [list(e["candidate_labels"]).index(1) for e in examples]
    n = n or 100
    responses = [e["response"] for e in examples]
    distinct = len(set(responses))
    if distinct < n:
        raise InvalidInput(f"{n} candidates need at least {n} distinct responses in the split; it has {distinct}")
    rng = np.random.default_rng(seed)
    candidates = []
    for i, correct in enumerate(responses):
        chosen: list[str] = [correct]
        seen = {correct}
        while len(chosen) < n:
            for j in rng.choice(len(responses), size=2 * (n - len(chosen)), replace=True):
                text = responses[j]
                if j != i and text not in seen and len(chosen) < n:
                    chosen.append(text)
                    seen.add(text)
        candidates.append(chosen)
    return candidates, [0] * len(examples)


def evaluate(
    scorer: Scorer,
    examples: list[dict],
    n: int | None = None,
    seed: int = 0,
    ks: Sequence[int] = (1, 3, 10),
    batch_size: int = 256,
    progress: Callable | None = None,
) -> dict:
    candidates, correct = candidate_sets(examples, n, seed)
    task = progress("rank (examples)", len(examples)) if progress else None
    ranks = []
    for start in range(0, len(examples), batch_size):
        end = start + batch_size
        for scores, c in zip(scorer(examples[start:end], candidates[start:end]), correct[start:end], strict=True):
            ranks.append(rank_of(scores, c))
        if task:
            task(min(end, len(examples)))
    metrics = ranking_metrics(ranks, ks)
    metrics["candidates"] = len(candidates[0]) if candidates else 0
    return metrics
