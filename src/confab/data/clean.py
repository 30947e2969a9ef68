"""PLATO-2's data cleaning (appendix A): named rules, each on by default, each with its own drop counter.

A message and its whole subtree are removed when any rule fires. Rules are checked cheapest first and a drop
is counted against the first rule that fires. Token counts use the paper's tokenizer (confab.text), since the
BPE vocabulary is trained only after the dataset exists.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from confab.data.records import Message
from confab.resources import read_list, resource_path
from confab.text import tokenize

RULES = (
    "deleted",  # [deleted] / [removed]
    "bot",  # the author is a known bot
    "quarantined",  # the subreddit is quarantined
    "too_many_chars",  # the message has more than max_chars characters
    "token_count",  # fewer than min_tokens or more than max_tokens tokens
    "long_word",  # a word has more than max_word_chars characters
    "alpha_ratio",  # alphabetic characters are under min_alpha of the non-space characters
    "url",  # the message contains a URL
    "special_string",  # r/, u/, &amp
    "offensive",  # the message contains an offensive word
    "repeated",  # the message occurs more than max_repeats times in the corpus
    "parent_overlap",  # the message mostly repeats its parent
)
DESCENDANT = "descendant_of_removed"

_URL = re.compile(r"https?://|ftp://|www\.\S|\b[\w-]+\.(?:com|org|net|edu|gov|io|co|ly|be|gl|me|tv)(?:/|\b)", re.I)
_SPACE = re.compile(r"\s+")
_NOT_LETTER = re.compile(r"[\W\d_]+")
_BOT_NAME = re.compile(r"(?i:[-_]bot)$|Bot$|BOT$")


@dataclass
class CleanConfig:
    enabled: bool | None = None  # None: on for Reddit-like formats, off for curated corpora
    skip: list[str] = field(default_factory=list)  # names of rules turned off
    min_tokens: int = 2
    max_tokens: int = 128
    max_word_chars: int = 30
    max_chars: int = 1024
    min_alpha: float = 0.7
    special_strings: list[str] = field(default_factory=lambda: ["r/", "u/", "&amp"])
    max_parent_overlap: float = 0.9
    max_repeats: int = 100
    offensive_words: str | None = None  # a file, one word a line; None: the list that ships with confab
    quarantined_subreddits: str | None = None
    bots: str | None = None

    def __post_init__(self) -> None:
        unknown = sorted(set(self.skip) - set(RULES))
        if unknown:
            raise ValueError(f"unknown cleaning rule(s) {', '.join(unknown)}; rules: {', '.join(RULES)}")


class Cleaner:
    """The rules of a CleanConfig with their word lists loaded; pure functions of a message and its parent."""

    def __init__(self, config: CleanConfig, frequent: set[int] | frozenset[int] = frozenset()):
        self.config = config
        self.active = [r for r in RULES if r not in config.skip]
        self.offensive = offensive_words(config.offensive_words)
        self.quarantined = set(_load(config.quarantined_subreddits, "quarantined_subreddits.txt", lower=True))
        self.bots = set(_load(config.bots, "bots.txt", lower=True))
        self.frequent = frequent
        self._token_sets: dict[str, set[str]] = {}
        # "r/" should catch r/news but not and/or: a special string must start a word.
        self._special = re.compile(
            "|".join((r"(?<![\w/])" if s[0].isalnum() else "") + re.escape(s) for s in config.special_strings)
            or r"(?!x)x",
            re.I,
        )

    def check(self, message: Message, parent: Message | None) -> str | None:
        """The first rule that removes `message`, or None when it is kept."""
        text, cfg = message.text, self.config
        tokens: list[str] | None = None
        for rule in self.active:
            if rule == "deleted":
                hit = text.strip() in ("[deleted]", "[removed]")
            elif rule == "bot":
                hit = message.author is not None and (
                    message.author.lower() in self.bots or bool(_BOT_NAME.search(message.author))
                )
            elif rule == "quarantined":
                hit = message.subreddit is not None and message.subreddit.lower() in self.quarantined
            elif rule == "too_many_chars":
                hit = len(text) > cfg.max_chars
            elif rule == "token_count":
                tokens = tokens if tokens is not None else tokenize(text)
                hit = not cfg.min_tokens <= len(tokens) <= cfg.max_tokens
            elif rule == "long_word":
                hit = max(map(len, text.split()), default=0) > cfg.max_word_chars
            elif rule == "alpha_ratio":
                hit = alpha_ratio(text) < cfg.min_alpha
            elif rule == "url":
                hit = bool(_URL.search(text))
            elif rule == "special_string":
                hit = bool(self._special.search(text))
            elif rule == "offensive":
                tokens = tokens if tokens is not None else tokenize(text)
                hit = is_offensive(tokens, self.offensive)
            elif rule == "repeated":
                hit = text_hash(text) in self.frequent
            else:  # parent_overlap
                hit = parent is not None and self._overlap(message, parent) >= cfg.max_parent_overlap
            if hit:
                return rule
        return None

    def _overlap(self, message: Message, parent: Message) -> float:
        # A parent is compared with each of its replies: keep its token set while its thread is being cleaned.
        if len(self._token_sets) > 10_000:
            self._token_sets.clear()
        if parent.id not in self._token_sets:
            self._token_sets[parent.id] = _token_set(parent.text)
        return _overlap_sets(_token_set(message.text), self._token_sets[parent.id])


def alpha_ratio(text: str) -> float:
    """Share of alphabetic characters among the non-whitespace characters (1.0 for an empty text)."""
    visible = len(_SPACE.sub("", text))
    return len(_NOT_LETTER.sub("", text)) / visible if visible else 1.0


def overlap(text: str, parent: str) -> float:
    """Share of the message's distinct lower-cased tokens that also occur in its parent."""
    return _overlap_sets(_token_set(text), _token_set(parent))


def _token_set(text: str) -> set[str]:
    return set(tokenize(text.lower()))


def _overlap_sets(mine: set[str], parent: set[str]) -> float:
    return len(mine & parent) / len(mine) if mine else 0.0


def text_hash(text: str) -> int:
    """A 64-bit hash of the text up to case and spacing, used to count repeated messages."""
    normal = " ".join(text.lower().split())
    return int.from_bytes(hashlib.blake2b(normal.encode("utf-8"), digest_size=8).digest(), "little")


def offensive_words(path: str | None = None) -> frozenset[str]:
    """The offensive-word list (lower-cased): a file, one word a line; None: the list that ships with confab."""
    return frozenset(_load(path, "offensive_words.txt", lower=True))


def is_offensive(tokens: list[str], words: frozenset[str]) -> bool:
    return not words.isdisjoint(map(str.lower, tokens))


def _load(path: str | None, default: str, lower: bool) -> list[str]:
    items = read_list(path if path is not None else resource_path(default))
    return [i.lower() for i in items] if lower else items
