"""Response selection (PLATO-2 appendix E): for contexts with labelled candidates, how well a scoring function
puts the coherent responses first.

Data: DailyDialog++ (JSON lines: a context, 5 positive, 5 adversarial-negative and 5 random-negative responses).
Each context is ranked with its positives against one kind of negatives (`random`, `adversarial`) or both.

- AP of one context: the mean, over its positives, of the precision at the positive's rank; MAP is its mean.
- MRR: the mean of 1 / the rank of the first positive. P@1: the share of contexts whose top candidate is positive.
- Ties are broken against the model: among equal scores, negatives rank first.
- accuracy (probabilities only, e.g. the evaluation model's p(l=1|c,r)): the share of candidates on the right side
  of 0.5, positives and negatives counted alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from confab.data.records import Problems
from confab.data.sources.dailydialogpp import response_groups
from confab.data.sources.lines import iter_json_lines
from confab.errors import InvalidInput
from confab.ranking import Scorer

NEGATIVES = ("random", "adversarial", "both")


def read_selection(path: Path, limit: int | None = None) -> list[dict]:
    """DailyDialog++ records as {context, positive, adversarial, random}; a malformed line is an error naming it."""
    problems, items = Problems(), []
    for lineno, obj in iter_json_lines(path, problems):
        groups = response_groups(obj)
        if isinstance(groups, str):
            raise InvalidInput(f"{path}:{lineno}: {groups}")
        items.append({"context": obj["context"], "positive": groups[0], "adversarial": groups[1],
                      "random": groups[2]})  # fmt: skip
        if limit is not None and len(items) >= limit:
            break
    if problems.total():
        first = problems.samples[0]
        raise InvalidInput(f"{first['file']}:{first['line']}: {first['detail']}")
    if not items:
        raise InvalidInput(f"{path}: no records")
    return items


def average_precision(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float, float]:
    """(AP, reciprocal rank of the first positive, precision at 1) of one ranked list; ties against the model."""
    order = np.lexsort((labels, -scores))  # by score, descending; among ties, label 0 first
    ranked = labels[order]
    hits = np.flatnonzero(ranked == 1)
    if hits.size == 0:
        raise InvalidInput("a list without positive candidates")
    precision = np.arange(1, hits.size + 1) / (hits + 1)
    return float(precision.mean()), float(1.0 / (hits[0] + 1)), float(ranked[0])


def selection_metrics(scores: Sequence[np.ndarray], labels: Sequence[np.ndarray], probabilities: bool) -> dict:
    pairs = zip(scores, labels, strict=True)
    per = np.array([average_precision(np.asarray(s, float), np.asarray(lab)) for s, lab in pairs])
    out = {"map": float(per[:, 0].mean()), "mrr": float(per[:, 1].mean()), "p@1": float(per[:, 2].mean()),
           "contexts": len(per)}  # fmt: skip
    if probabilities:
        s, lab = np.concatenate(scores), np.concatenate(labels)
        out["accuracy"] = float(((s > 0.5) == (lab == 1)).mean())
    return out


def evaluate_selection(scorer: Scorer, items: list[dict], negatives: Sequence[str], probabilities: bool) -> dict:
    """Metrics for each kind of negatives; every candidate is scored once."""
    for kind in negatives:
        if kind not in NEGATIVES:
            raise InvalidInput(f"negatives {kind!r}: choose from {', '.join(NEGATIVES)}")
    candidates = [it["positive"] + it["adversarial"] + it["random"] for it in items]
    scores = scorer([{"context": it["context"], "persona": []} for it in items], candidates)
    out = {}
    for kind in negatives:
        picked_scores, picked_labels = [], []
        for it, s in zip(items, scores, strict=True):
            p, a = len(it["positive"]), len(it["adversarial"])
            keep = {
                "random": np.r_[0:p, p + a : len(s)],
                "adversarial": np.r_[0 : p + a],
                "both": np.r_[0 : len(s)],
            }[kind]
            labels = (keep < p).astype(int)
            if labels.sum() == len(labels):
                continue  # no negatives of this kind for this context
            picked_scores.append(np.asarray(s)[keep])
            picked_labels.append(labels)
        out[kind] = selection_metrics(picked_scores, picked_labels, probabilities)
    return out
