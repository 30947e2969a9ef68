"""Automatic metrics of generated responses.

- distinct-n (PLATO-2 section 3.3.2, after Li et al. 2016): the number of distinct n-grams over all generated
  responses divided by the number of n-grams in them, corpus-level; words are lower-cased tokens of
  `confab.text.tokenize` (punctuation counts as a word, as in the papers' tokenised text).
- avg_length: mean number of words a response.
- F1 (ConvAI2): unigram F1 between a response and its reference, after lower-casing and dropping punctuation
  and the articles a/an/the; averaged over responses.
- persona use (after P-Cover, Song et al. 2019): how much of its persona a response says, beyond chance. A
  response's coverage of a persona is, over its sentences, the largest share of a sentence's content words (not
  stop words, not punctuation) that the response contains; persona use is the mean coverage of the response's own
  persona minus that of another example's persona (the next example with a different persona, a fixed
  derangement), so that words every reply uses ("i", "like", "love") and topics of the context cancel out.
- english_words: the share of a response's words (letters, with their contractions: "don't") that an English
  dictionary knows (pyspellchecker's, built from subtitle word frequencies, so "netflix" and "mom" are in it and
  chat shorthand such as "lol" is not: measure the references beside a model).
- latent usage: how often each latent value z was the chosen candidate.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import cache

from confab.errors import InvalidInput
from confab.text.overlap import unigram_f1, words

__all__ = ["distinct", "english_words", "generation_metrics", "persona_coverage", "persona_use", "unigram_f1", "words"]

WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")


@cache
def _stop_words() -> frozenset[str]:
    from spacy.lang.en.stop_words import STOP_WORDS  # noqa: PLC0415 - spaCy's English list, without a pipeline

    return frozenset(STOP_WORDS) | {"'m", "'s", "'re", "'ve", "'ll", "'d", "n't"}


def distinct(texts: Iterable[str], n: int) -> float:
    """Distinct n-grams / all n-grams over every text (0.0 when there are none)."""
    grams: Counter[tuple[str, ...]] = Counter()
    for text in texts:
        w = words(text)
        grams.update(tuple(w[i : i + n]) for i in range(len(w) - n + 1))
    total = sum(grams.values())
    return len(grams) / total if total else 0.0


@cache
def _english() -> frozenset[str]:
    from spellchecker import SpellChecker  # noqa: PLC0415 - its dictionary is read when first measured

    return frozenset(SpellChecker(language="en").word_frequency.dictionary)


def english_words(texts: Iterable[str]) -> float:
    """The share of all the texts' words that the English dictionary knows (0.0 when there are none)."""
    found = [w for text in texts for w in WORD.findall(text.lower())]
    known = _english()
    return sum(w in known for w in found) / len(found) if found else 0.0


def content_words(text: str) -> set[str]:
    stop = _stop_words()
    return {w for w in words(text) if any(c.isalnum() for c in w) and w not in stop}


def persona_coverage(response: str, persona: Sequence[str]) -> float:
    """The largest share of one persona sentence's content words found in the response (0.0 without any)."""
    said = content_words(response)
    shares = [len(said & c) / len(c) for c in map(content_words, persona) if c]
    return max(shares, default=0.0)


def shuffled_personas(personas: Sequence[Sequence[str]]) -> list[Sequence[str]]:
    """Each example's control persona: the next example's (cyclically) whose persona differs from its own."""
    n, keys = len(personas), [tuple(p) for p in personas]
    out = []
    for i in range(n):
        j = next((j % n for j in range(i + 1, i + n) if keys[j % n] != keys[i]), None)
        if j is None:
            raise InvalidInput("persona use needs at least two different personas")
        out.append(personas[j])
    return out


def persona_use(responses: Sequence[str], personas: Sequence[Sequence[str]]) -> dict:
    """Coverage of each response's own persona, of a shuffled one, and the difference (the persona use)."""
    own = [persona_coverage(r, p) for r, p in zip(responses, personas, strict=True)]
    other = [persona_coverage(r, p) for r, p in zip(responses, shuffled_personas(personas), strict=True)]
    cover, control = sum(own) / len(own), sum(other) / len(other)
    return {"persona_cover": cover, "persona_cover_shuffled": control, "persona_use": cover - control}


def generation_metrics(
    responses: Sequence[str], references: Sequence[str] | None = None, latents: Sequence[int | None] = (),
    personas: Sequence[Sequence[str]] | None = None,
) -> dict:  # fmt: skip
    if not responses:
        raise InvalidInput("no responses to measure")
    out = {
        "responses": len(responses),
        "distinct-1": distinct(responses, 1),
        "distinct-2": distinct(responses, 2),
        "avg_length": sum(len(words(r)) for r in responses) / len(responses),
        "english_words": english_words(responses),
    }
    if references is not None:
        pairs = list(zip(responses, references, strict=True))
        out["f1"] = sum(unigram_f1(r, g) for r, g in pairs) / len(pairs)
    if personas is not None and len({tuple(p) for p in personas}) > 1:
        out.update(persona_use(responses, personas))
    chosen = Counter(z for z in latents if z is not None)
    if chosen:
        out["latent_usage"] = {int(z): c / sum(chosen.values()) for z, c in sorted(chosen.items())}
        out["latents_chosen"] = len(chosen)
    return out
