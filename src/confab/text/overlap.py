"""Word overlap of two texts: ConvAI2's unigram F1 (the evaluation's F1) and whether a reply repeats a turn (the
retrieval agent's filter, and the persona-questions check)."""

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


# a reply whose words overlap a turn's by this unigram F1 or more says the turn again ("Same to you! What do you do
# for a living?" for "what do you do for a living ?"), while "i am good , how are you ?" answers "how are you ?"
REPEAT_F1 = 0.75


def repeats(reply: str, turn: str) -> bool:
    """Whether the reply says the turn again: a unigram F1 of REPEAT_F1 or more with it, or the turn's words
    opening the reply ("What do you do for a living? I'm in the army." for "what do you do for a living ?")."""
    if unigram_f1(reply, turn) >= REPEAT_F1 - 1e-9:  # 0.75 computed as 0.7499999999999999
        return True
    said, asked = [w for w in words(reply) if w.isalnum()], [w for w in words(turn) if w.isalnum()]
    return len(asked) >= 4 and said[: len(asked)] == asked  # "how are you ? i am fine" answers
