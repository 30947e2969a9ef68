"""The offensive-word list that data cleaning drops messages by and the server's safety filter drops candidates by."""

from __future__ import annotations

from confab.resources import read_list, resource_path


def offensive_words(path: str | None = None) -> frozenset[str]:
    """The offensive-word list (lower-cased): a file, one word a line; None: the list that ships with confab."""
    return frozenset(w.lower() for w in read_list(path if path is not None else resource_path("offensive_words.txt")))


def is_offensive(tokens: list[str], words: frozenset[str]) -> bool:
    return not words.isdisjoint(map(str.lower, tokens))
