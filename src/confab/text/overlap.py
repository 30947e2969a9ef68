"""Word overlap of two texts: ConvAI2's unigram F1 (the evaluation's F1, and the retrieval agent's repeat test)."""

from __future__ import annotations

from collections import Counter

from confab.text.tokenize import tokenize

ARTICLES = frozenset(("a", "an", "the"))


def words(text: str) -> list[str]:
    return [t.lower() for t in tokenize(text)]


def unigram_f1(response: str, reference: str) -> float:
    """Unigram F1 after lower-casing and dropping punctuation and the articles a/an/the."""

    def normal(text: str) -> list[str]:
        return [w for w in words(text) if w.isalnum() and w not in ARTICLES]

    r, g = normal(response), normal(reference)
    common = sum((Counter(r) & Counter(g)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(r), common / len(g)
    return 2 * precision * recall / (precision + recall)
