"""Word overlap of two texts: ConvAI2's unigram F1 (the evaluation's F1) and whether a reply repeats a turn (the
retrieval agent's filter, and the persona-questions check)."""

from __future__ import annotations

from collections import Counter
from functools import lru_cache

from confab.text.tokenize import tokenize

ARTICLES = frozenset(("a", "an", "the"))


def words(text: str) -> list[str]:
    return [t.lower() for t in tokenize(text)]


@lru_cache(maxsize=8192)
def _alnum(text: str) -> tuple[str, ...]:
    # cached: the retrieval agent tests every candidate against every turn of the dialogue, each reply
    return tuple(w for w in words(text) if w.isalnum())


def unigram_f1(response: str, reference: str) -> float:
    """Unigram F1 after lower-casing and dropping punctuation and the articles a/an/the."""
    r = [w for w in _alnum(response) if w not in ARTICLES]
    g = [w for w in _alnum(reference) if w not in ARTICLES]
    common = sum((Counter(r) & Counter(g)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(r), common / len(g)
    return 2 * precision * recall / (precision + recall)


# a reply whose words overlap a turn's by this unigram F1 or more says the turn again ("Same to you! What do you do
# for a living?" for "what do you do for a living ?"), while "i am good , how are you ?" answers "how are you ?"
REPEAT_F1 = 0.75


def repeats(reply: str, turn: str) -> bool:
    """Whether the reply says the turn again: a unigram F1 of REPEAT_F1 or more with it, or the turn's words
    opening the reply ("What do you do for a living? I'm in the army." for "what do you do for a living ?")."""
    if unigram_f1(reply, turn) >= REPEAT_F1 - 1e-9:  # 0.75 computed as 0.7499999999999999
        return True
    said, asked = _alnum(reply), _alnum(turn)
    return len(asked) >= 4 and said[: len(asked)] == asked  # "how are you ? i am fine" answers
