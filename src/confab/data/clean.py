"""PLATO-2's data cleaning (appendix A): named rules, each on by default, each with its own drop counter.

A message and its whole subtree are removed when any rule fires. Rules are checked cheapest first and a drop
is counted against the first rule that fires. Token counts use the paper's tokenizer (confab.text), since the
BPE vocabulary is trained only after the dataset exists.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

import numpy as np
import polars as pl
import pyarrow as pa

from confab.data.records import Message
from confab.errors import InvalidInput
from confab.resources import read_list, resource_path
from confab.text import tokenize
from confab.text.offensive import is_offensive, offensive_words
from confab.text.tokenize import ASCII_SPACE_CLASS, ASCII_SPACES, ascii_counts, ascii_space, string_bytes

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

_SCHEMES = r"https?://|ftp://|www\.\S"
_TLD = r"\.(?:com|org|net|edu|gov|io|co|ly|be|gl|me|tv)(?:/|\b)"
_URL = re.compile(rf"{_SCHEMES}|\b[\w-]+{_TLD}", re.I)
_SPACE = re.compile(r"\s+")
_NOT_LETTER = re.compile(r"[\W\d_]+")
_BOT_NAME = re.compile(r"(?i:[-_]bot)$|Bot$|BOT$")
# the same patterns for Rust's regexes on ASCII text (first_rules): Python's str patterns count \x1c-\x1f as space
_WORD_ASCII = "[^" + ASCII_SPACE_CLASS[1:] + "+"
_SCHEMES_ASCII = "(?i)" + _SCHEMES.replace(r"\S", r"[^\s\x1c-\x1f]")
_DOMAIN_ASCII = r"(?i)\b[\w\-]+" + _TLD
_NOT_ASCII = r"[^\x00-\x7f]"


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
            raise InvalidInput(f"unknown cleaning rule(s) {', '.join(unknown)}; rules: {', '.join(RULES)}")


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

    def check(self, message: Message, parent: Message | None, repeated: bool | None = None) -> str | None:
        """The first rule that removes `message`, or None when it is kept (`repeated`: whether its text is
        frequent, when the caller hashed the texts of many messages at once)."""
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
                hit = repeated if repeated is not None else bool(self.frequent) and text_hash(text) in self.frequent
            else:  # parent_overlap
                hit = parent is not None and self._overlap(message, parent) >= cfg.max_parent_overlap
            if hit:
                return rule
        return None

    def first_rules(self, table: pa.Table, counts: dict[str, np.ndarray] | None = None) -> list[str | None]:
        """`check` for every row of a message table at once: the first rule that removes each row, given its
        parent (the first row with the parent's id in the same thread, as `threads.build_thread` links them).
        `counts`: `ascii_counts` of the text column, when the caller has them.

        Whole columns through polars: its Rust regexes, list set operations and joins run over Arrow memory on
        every core, where pyarrow's compute functions have no list intersection (parent overlap) and DuckDB would
        put the twelve ordered rules in SQL. Rust's and Python's regexes agree on ASCII text once whitespace is
        spelled out (Python counts \\x1c-\\x1f as space, Rust does not); a row with any other character in its
        text, its parent's, its author or subreddit goes through `check`, so the result is `check`'s on every
        row (tests/test_clean.py compares them row by row)."""
        frame = pl.from_arrow(table.select(["id", "parent_id", "thread_id", "author", "text", "subreddit"]))
        frame = frame.with_row_index("row")
        # each row's parent row, by a join of the key columns only (the texts are not copied); a message that
        # names itself as parent is a root
        parents = (frame.select("thread_id", pl.col("id").alias("parent_id"), pl.col("row").alias("parent_row"))
                   .unique(["thread_id", "parent_id"], keep="first", maintain_order=True))  # fmt: skip
        parent_row = (
            frame.select("thread_id", "parent_id", "id")
            .join(parents, on=["thread_id", "parent_id"], how="left", maintain_order="left")
            .select(pl.when(pl.col("parent_id") == pl.col("id")).then(None).otherwise(pl.col("parent_row")))
            .to_series()
        )
        frame = frame.with_columns(parent_row=parent_row)
        repeated = np.zeros(frame.height, bool)
        if self.frequent and "repeated" in self.active:
            frequent = np.fromiter(self.frequent, np.uint64, len(self.frequent))
            # the hashes the ingest computed, when the table carries them
            hashes = table["text_hash"].to_numpy() if "text_hash" in table.column_names else None
            repeated = np.isin(text_hashes(frame["text"].to_arrow()) if hashes is None else hashes, frequent)
        frame = frame.with_columns(repeated=pl.Series(repeated))
        counts = counts if counts is not None else ascii_counts(table["text"])
        wide = counts["other"] > 0  # a text with a byte that is not ASCII; its replies see it as their parent's
        parent_rows = frame["parent_row"].fill_null(-1).to_numpy()
        frame = frame.with_columns(wide=pl.Series(wide | ((parent_rows >= 0) & wide[np.maximum(parent_rows, 0)])))
        other = pl.col("wide") | pl.any_horizontal(
            pl.col(c).str.contains(_NOT_ASCII).fill_null(False) for c in ("author", "subreddit")
        )
        if "url" in self.active:
            frame = frame.with_columns(url=_url_hits(frame["text"]))
        hits = self._rule_columns(frame, counts)
        chain = None
        for i, rule in enumerate(r for r in self.active if r != "parent_overlap"):
            chain = (pl if chain is None else chain).when(hits[rule].fill_null(False)).then(pl.lit(i))
        frame = frame.with_columns(rule=(chain.otherwise(None) if chain is not None else pl.lit(None)), other=other)
        if "parent_overlap" in self.active:  # the costly rule, last: only where no other fired and a parent exists
            last = len(self.active) - 1
            todo = frame.filter(pl.col("rule").is_null() & pl.col("parent_row").is_not_null() & ~pl.col("other"))
            rows, parent_rows = todo["row"].to_numpy(), todo["parent_row"].to_numpy()
            shares = overlap_shares(frame["text"].to_arrow(), rows, parent_rows)
            hit = np.zeros(frame.height, bool)
            hit[rows[shares >= self.config.max_parent_overlap]] = True
            frame = frame.with_columns(rule=pl.when(pl.Series(hit)).then(pl.lit(last)).otherwise(pl.col("rule")))
        rules = [None if i is None else self.active[i] for i in frame["rule"].to_list()]
        others = frame.filter("other")
        parent_texts = frame["text"].gather(others["parent_row"].fill_null(0)).to_list()
        for r, parent_text in zip(others.iter_rows(named=True), parent_texts, strict=True):
            parent = None
            if r["parent_row"] is not None:
                parent = Message(r["parent_id"], None, r["thread_id"], None, parent_text)
            message = Message(r["id"], r["parent_id"], r["thread_id"], r["author"], r["text"], r["subreddit"])
            rules[r["row"]] = self.check(message, parent, r["repeated"])
        return rules

    def _rule_columns(self, frame: pl.DataFrame, counts: dict[str, np.ndarray]) -> dict[str, pl.Expr]:
        """Each rule as a boolean expression, right on ASCII rows (null where it cannot fire). Character classes
        are counted with numpy over the text column's bytes (`counts`); words are found by Rust regexes of ASCII
        classes."""
        cfg, text = self.config, pl.col("text")
        tokens, letters, spaces = (
            pl.lit(pl.Series(v)) for v in (counts["tokens"], counts["letters"], counts["spaces"])
        )
        visible = text.str.len_bytes() - spaces
        ratio = pl.when(visible > 0).then(letters / visible).otherwise(1.0)
        specials = [(r"(?:^|[^\w/])" if s[0].isalnum() else "") + re.escape(s) for s in cfg.special_strings]
        # an offensive word is a token: a whole run of letters and digits (the list holds only such words)
        words = "|".join(sorted(re.escape(w) for w in self.offensive if re.fullmatch("[a-z0-9]+", w)))
        offensive = (
            text.str.contains(f"(?i)(?:^|[^A-Za-z0-9])(?:{words})(?:[^A-Za-z0-9]|$)") if words else pl.lit(False)
        )
        for w in self.offensive:  # a one-character token that is not a letter or digit
            if not re.fullmatch("[a-z0-9]+", w) and len(w) == 1:
                offensive = offensive | text.str.contains(w, literal=True)
        return {
            "deleted": text.str.strip_chars(ASCII_SPACES).is_in(["[deleted]", "[removed]"]),
            "bot": pl.col("author").str.to_lowercase().is_in(sorted(self.bots))
            | pl.col("author").str.contains(r"(?:(?i:[-_]bot)|Bot|BOT)\n?$"),
            "quarantined": pl.col("subreddit").str.to_lowercase().is_in(sorted(self.quarantined)),
            "too_many_chars": text.str.len_chars() > cfg.max_chars,
            "token_count": (tokens < cfg.min_tokens) | (tokens > cfg.max_tokens),
            "long_word": text.str.contains(f"{_WORD_ASCII[:-1]}{{{cfg.max_word_chars + 1}}}"),
            "alpha_ratio": ratio < cfg.min_alpha,
            "url": pl.col("url"),
            "special_string": text.str.contains("(?i)" + "|".join(specials)) if specials else pl.lit(False),
            "offensive": offensive,
            "repeated": pl.col("repeated"),
        }

    def _overlap(self, message: Message, parent: Message) -> float:
        # A parent is compared with each of its replies: keep its token set while its thread is being cleaned.
        if len(self._token_sets) > 10_000:
            self._token_sets.clear()
        if parent.id not in self._token_sets:
            self._token_sets[parent.id] = _token_set(parent.text)
        return _overlap_sets(_token_set(message.text), self._token_sets[parent.id])


def _url_hits(texts: pl.Series) -> pl.Series:
    """The url rule on ASCII texts. A domain name has no literal for the regex engine to look for first (8x the
    cost of the schemes), so it is looked for only in the texts with a dot and a top-level domain, which every
    text it matches has."""
    hits = texts.str.contains(_SCHEMES_ASCII)
    rows = (texts.str.contains("(?i)" + _TLD) & ~hits).arg_true()
    return hits.scatter(rows, texts.gather(rows).str.contains(_DOMAIN_ASCII)) if len(rows) else hits


def overlap_shares(texts: pa.Array, rows: np.ndarray, parents: np.ndarray) -> np.ndarray:
    """`overlap(texts[r], texts[p])` for each pair of (distinct) `rows` and their `parents`, ASCII texts only.

    Each text's distinct lower-cased tokens become sorted 64-bit keys (its row, then a hash of the token) over
    the column's bytes; a pair's share is how many of its row's keys, with the parent's row put in, are keys too.
    Polars' list set operations did the same at 5x the time, most of it in the token regex."""
    needed, inverse = np.unique(np.concatenate([rows, parents]), return_inverse=True)
    keys, shift = _token_keys(texts.take(pa.array(needed)))
    mine, theirs = inverse[: len(rows)].astype(np.uint64), inverse[len(rows) :].astype(np.uint64)
    first = np.searchsorted(keys, mine << shift)
    counts = np.searchsorted(keys, (mine + np.uint64(1)) << shift) - first
    pair = np.repeat(np.arange(len(rows)), counts)
    own = keys[np.arange(len(pair)) - np.repeat(np.cumsum(counts) - counts, counts) + np.repeat(first, counts)]
    query = (theirs[pair] << shift) | (own & ((np.uint64(1) << shift) - np.uint64(1)))
    at = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
    found = np.bincount(pair, weights=keys[at] == query, minlength=len(rows)) if len(keys) else np.zeros(len(rows))
    return np.where(counts > 0, found / np.maximum(counts, 1), 0.0)


_P = np.uint64(0x9E3779B97F4A7C15)  # odd: invertible modulo 2**64
_P_INVERSE = np.uint64(pow(int(_P), -1, 2**64))


def _token_keys(texts: pa.Array) -> tuple[np.ndarray, np.uint64]:
    """Sorted distinct (row << shift | token hash) of the texts' lower-cased `tokenize` tokens (ASCII), and the
    shift (the hash's bits: at least 40 under 16M rows). A token's hash is a polynomial over its bytes from prefix
    sums (arithmetic modulo 2**64), mixed, of which the top bits are kept. Slices of rows keep the arrays in
    the cache; their keys, row-major, follow one another in order."""
    shift = np.uint64(64 - max(1, int(len(texts)).bit_length()))
    keys = [_slice_keys(texts.slice(i, _SLICE), i, shift) for i in range(0, len(texts), _SLICE)]
    return (np.concatenate(keys) if keys else np.zeros(0, np.uint64)), shift


def _slice_keys(texts: pa.Array, first_row: int, shift: np.uint64) -> np.ndarray:
    data, offsets = string_bytes(texts)
    with np.errstate(over="ignore"):
        low = data + (((data - 65) < 26) * np.uint8(32))
        alnum = ((low - 97) < 26) | ((low - 48) < 10)
        space = ascii_space(data)
        nonempty = offsets[1:] > offsets[:-1]
        before = np.zeros(len(data), bool)  # the byte before is a letter or digit of the same text
        before[1:] = alnum[:-1]
        before[offsets[:-1][nonempty]] = False
        after = np.zeros(len(data), bool)
        after[:-1] = alnum[1:]
        after[offsets[1:][nonempty] - 1] = False
        lone = np.flatnonzero(~alnum & ~space)  # any other character is a token of its own
        starts = np.concatenate([np.flatnonzero(alnum & ~before), lone])
        ends = np.concatenate([np.flatnonzero(alnum & ~after) + 1, lone + 1])
        powers, inverses = _power_tables(int(len(data)).bit_length())
        prefix = np.zeros(len(data) + 1, np.uint64)
        np.cumsum(low.astype(np.uint64) * powers[: len(data)], dtype=np.uint64, out=prefix[1:])
        h = (prefix[ends] - prefix[starts]) * inverses[starts] + (ends - starts).astype(np.uint64) * _P
        h ^= h >> np.uint64(31)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(29)
    row = (np.searchsorted(offsets, starts, "right") - 1 + first_row).astype(np.uint64)
    keys = np.sort((row << shift) | (h >> (np.uint64(64) - shift)), kind="stable")  # timsort: nearly in row order
    distinct = np.ones(len(keys), bool)  # np.unique's hashing costs 4x a sort
    np.not_equal(keys[1:], keys[:-1], out=distinct[1:])
    return keys[distinct]


@functools.lru_cache(maxsize=2)
def _power_tables(bits: int) -> tuple[np.ndarray, np.ndarray]:
    """P**i and P**-i modulo 2**64 for i < 2**bits: made once for the slices of a size, not per slice."""
    tables = np.full((2, 1 << bits), [[_P], [_P_INVERSE]], np.uint64)
    tables[:, 0] = 1
    with np.errstate(over="ignore"):
        np.cumprod(tables, axis=1, out=tables)
    return tables[0], tables[1]


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
    return int(text_hashes(pa.array([text], pa.large_string()))[0])


def text_hashes(texts: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """`text_hash` of every text: polars' hash of the lower-cased text with its runs of space made one space
    and its ends stripped (as `" ".join(text.lower().split())`). Polars' hash may change between its versions,
    so a build records the version it started with (build.py). ASCII texts are lowered and their spaces
    collapsed with numpy over the bytes (polars' regex replacement costs 4x the rest); a text with any
    non-ASCII byte, where a letter or a space may take more than one byte, goes through polars' lowering and regex."""
    texts = texts.combine_chunks() if isinstance(texts, pa.ChunkedArray) else texts
    texts = texts.cast(pa.large_string())
    pieces, wide = [], []
    for i in range(0, len(texts), _SLICE):
        piece, rows = _normal_ascii(texts.slice(i, _SLICE))
        pieces.append(piece)
        wide.append(rows + i)
    hashes = pl.from_arrow(pa.chunked_array(pieces, pa.large_string())).hash(_SEED).to_numpy().copy()
    wide = np.concatenate(wide) if wide else np.zeros(0, np.int64)
    if len(wide):
        subset = pl.from_arrow(texts.take(pa.array(wide))).str.to_lowercase()
        normal = subset.str.replace_all(r"[\s\x1c-\x1f]+", " ").str.strip_chars(" ")
        hashes[wide] = normal.hash(_SEED).to_numpy()
    return hashes


_SEED = 0x636F6E666162  # any fixed seed: hashes must agree across the processes of a build
_SLICE = 4096
_STRIP = ASCII_SPACES.encode()


def _normal_ascii(texts: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """The texts lower-cased (ASCII letters) with each run of ASCII space made one space and none at either end,
    and the rows with a byte that is not ASCII (whose other bytes are kept as they are). A byte is dropped when
    it is a space that starts its text or follows a space, or the one space left at the end of a text."""
    data, offsets = string_bytes(texts)
    if not len(data):
        return pa.array([""] * len(texts), pa.large_string()), np.zeros(0, np.int64)
    starts, ends = offsets[:-1], offsets[1:]
    nonempty = ends > starts
    space = ascii_space(data)
    drop = space.copy()
    drop[1:] &= space[:-1]
    drop[starts[nonempty]] = space[starts[nonempty]]
    # a text that ends in space kept the first space of its last run: drop it too (few texts, one by one)
    ending = nonempty & space[np.maximum(ends - 1, 0)]
    for s, e in zip(starts[ending], ends[ending], strict=True):
        kept = len(data[s:e].tobytes().rstrip(_STRIP))
        if kept:
            drop[s + kept] = True
    gone = np.flatnonzero(drop)
    with np.errstate(over="ignore"):
        out = np.where(space, np.uint8(32), data + ((data - 65) < 26) * np.uint8(32))
    out = np.delete(out, gone)
    removed = np.bincount(np.searchsorted(offsets, gone, "right") - 1, minlength=len(texts))
    new_offsets = offsets - np.r_[0, np.cumsum(removed)]
    wide = np.unique(np.searchsorted(offsets, np.flatnonzero(data >= 128), "right") - 1)
    array = pa.LargeStringArray.from_buffers(len(texts), pa.py_buffer(new_offsets.astype(np.int64)), pa.py_buffer(out))
    return array, wide


def _load(path: str | None, default: str, lower: bool) -> list[str]:
    items = read_list(path if path is not None else resource_path(default))
    return [i.lower() for i in items] if lower else items
