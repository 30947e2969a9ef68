"""Ranking metrics, matched by candidate index (never by text), with ties broken against the model.

- rank of the correct candidate: 1 + the number of other candidates scoring at least as high. A model that
  gives every candidate the same score ranks the correct one last, not first.
- hits@k: the share of examples whose correct candidate ranks k or better, for any list of k.
- MRR: the mean of 1 / rank.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np

from confab.errors import InvalidInput

# (examples, one candidate list per example) -> one score per candidate, higher is better: TF-IDF, a retrieval
# model, PLATO-2's evaluator (confab.scorers makes one from a name)
Scorer = Callable[[list[dict], list[list[str]]], list[np.ndarray]]


def rank_of(scores: Sequence[float] | np.ndarray, correct: int) -> int:
    """The pessimistic rank (1 = best) of candidate `correct` among `scores`."""
    scores = np.asarray(scores, dtype=np.float64)
    if not 0 <= correct < len(scores):
        raise IndexError(f"correct index {correct} outside {len(scores)} candidates")
    if np.isnan(scores).any():
        raise InvalidInput("scores contain NaN")
    others = np.delete(scores, correct)
    return 1 + int((others >= scores[correct]).sum())


def ranking_metrics(ranks: Iterable[int], ks: Sequence[int] = (1, 3, 10)) -> dict[str, float]:
    """hits@k for each k and MRR over the ranks of the correct candidates."""
    ranks = np.asarray(list(ranks), dtype=np.int64)
    if ranks.size == 0:
        raise InvalidInput("no examples to score")
    out = {f"hits@{k}": float((ranks <= k).mean()) for k in ks}
    out["mrr"] = float((1.0 / ranks).mean())
    out["n"] = int(ranks.size)
    return out
