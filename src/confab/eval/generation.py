"""Automatic metrics of generated responses.

- distinct-n (PLATO-2 section 3.3.2, after Li et al. 2016): the number of distinct n-grams over all generated
  responses divided by the number of n-grams in them, corpus-level; words are lower-cased tokens of
  `confab.text.tokenize` (punctuation counts as a word, as in the papers' tokenised text).
- avg_length: mean number of words a response.
- F1 (ConvAI2): unigram F1 between a response and its reference, after lower-casing and dropping punctuation
  and the articles a/an/the; averaged over responses.
- latent usage: how often each latent value z was the chosen candidate.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from confab.text.tokenize import tokenize

ARTICLES = frozenset(("a", "an", "the"))


def words(text: str) -> list[str]:
    return [t.lower() for t in tokenize(text)]


def distinct(texts: Iterable[str], n: int) -> float:
    """Distinct n-grams / all n-grams over every text (0.0 when there are none)."""
    grams: Counter[tuple[str, ...]] = Counter()
    for text in texts:
        w = words(text)
        grams.update(tuple(w[i : i + n]) for i in range(len(w) - n + 1))
    total = sum(grams.values())
    return len(grams) / total if total else 0.0


def unigram_f1(response: str, reference: str) -> float:
    def normal(text: str) -> list[str]:
        return [w for w in words(text) if w.isalnum() and w not in ARTICLES]

    r, g = normal(response), normal(reference)
    common = sum((Counter(r) & Counter(g)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(r), common / len(g)
    return 2 * precision * recall / (precision + recall)


def generation_metrics(
    responses: Sequence[str], references: Sequence[str] | None = None, latents: Sequence[int | None] = ()
) -> dict:
    if not responses:
        raise ValueError("no responses to measure")
    out = {
        "responses": len(responses),
        "distinct-1": distinct(responses, 1),
        "distinct-2": distinct(responses, 2),
        "avg_length": sum(len(words(r)) for r in responses) / len(responses),
    }
    if references is not None:
        pairs = list(zip(responses, references, strict=True))
        out["f1"] = sum(unigram_f1(r, g) for r, g in pairs) / len(pairs)
    chosen = Counter(z for z in latents if z is not None)
    if chosen:
        out["latent_usage"] = {int(z): c / sum(chosen.values()) for z, c in sorted(chosen.items())}
        out["latents_chosen"] = len(chosen)
    return out
