"""The tokenizer of Mazaré et al. (section 3.1): pad every special character with spaces, split on whitespace.

A "special character" is anything that is neither a letter, a digit nor whitespace, so `don't` becomes
`don ' t` and `r/news` becomes `r / news`. Case is kept; models that want lower case lower it themselves.
"""

import re
from collections import Counter

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

_TOKEN = re.compile(r"[^\W_]+|[^\w\s]|_", re.UNICODE)
# what Python's str patterns (\s, str.split, str.strip) take for space among ASCII characters: \x1c-\x1f too,
# which Rust's regexes (polars) do not
ASCII_SPACES = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"
ASCII_SPACE_CLASS = "[" + ASCII_SPACES.replace(" ", "\\x20") + "]"  # the same as a regex class
TOKEN_ASCII = r"[^\W_]+|[^\w\s\x1c-\x1f]|_"  # `tokenize`'s pattern for Rust's regexes, right on ASCII text


def tokenize(text: str) -> list[str]:
    """Split `text` into word and punctuation tokens."""
    return _TOKEN.findall(text)


def truncate_tokens(text: str, max_tokens: int) -> str:
    """Cut `text` after its `max_tokens`-th token, keeping the original spelling and spacing before it."""
    if max_tokens <= 0:
        return ""
    if len(_TOKEN.findall(text)) <= max_tokens:  # the common case, at C speed
        return text
    for i, match in enumerate(_TOKEN.finditer(text)):
        if i + 1 == max_tokens:
            return text[: match.end()]
    return text


def truncate_column(texts: pa.Array, max_tokens: int, counts: dict[str, np.ndarray] | None = None) -> pa.Array:
    """`truncate_tokens` of every text: ASCII texts within the limit (counted from their bytes) stay as they are,
    longer ASCII texts are cut at the byte where their token max_tokens ends, the rest are cut one by one.
    `counts`: the texts' `ascii_counts`, when the caller has them."""
    counts = counts if counts is not None else ascii_counts(texts)
    if max_tokens <= 0:
        return pa.array([""] * len(texts), texts.type)
    long_ascii = (counts["other"] == 0) & (counts["tokens"] > max_tokens)
    other = counts["other"] > 0
    if not (long_ascii.any() or other.any()):
        return texts
    shorter = np.zeros(len(texts), dtype=object)
    if long_ascii.any():
        shorter[long_ascii] = _cut_ascii(texts.take(pa.array(np.flatnonzero(long_ascii))), max_tokens).to_pylist()
    if other.any():
        shorter[other] = [truncate_tokens(t, max_tokens) for t in texts.filter(pa.array(other)).to_pylist()]
    cut = long_ascii | other
    return pc.replace_with_mask(texts, pa.array(cut), pa.array(shorter[cut].tolist(), texts.type))


def _cut_ascii(texts: pa.Array, max_tokens: int) -> pa.Array:
    """ASCII texts of more than `max_tokens` tokens, each cut after that token: before the next token's first
    byte, less the spaces between them (every other byte belongs to a token)."""
    data, offsets = string_bytes(texts)
    alnum = (((data | 0x20) - 97) < 26) | ((data - 48) < 10)
    space = ascii_space(data)
    starts = alnum.copy()
    starts[1:] &= ~alnum[:-1]
    starts[offsets[:-1]] = alnum[offsets[:-1]]
    starts |= ~alnum & ~space
    first = np.flatnonzero(starts)
    before = np.searchsorted(first, offsets[:-1])  # each text's first token among all
    following = first[before + max_tokens]  # the first byte of token max_tokens + 1
    seen = np.cumsum(~space)
    ends = np.searchsorted(seen, seen[following - 1], "left") + 1  # after the last non-space byte before it
    lengths = ends - offsets[:-1]
    keep = np.arange(len(data)) - np.repeat(offsets[:-1], np.diff(offsets)) < np.repeat(lengths, np.diff(offsets))
    new_offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return pa.LargeStringArray.from_buffers(len(texts), pa.py_buffer(new_offsets), pa.py_buffer(data[keep]))


_SLICE = 4096


def string_bytes(texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """A string array's UTF-8 bytes and its int64 offsets into them (the first 0), without copying them."""
    texts = texts.cast(pa.large_string())
    offsets = np.frombuffer(texts.buffers()[1], dtype=np.int64)[texts.offset : texts.offset + len(texts) + 1]
    data = np.frombuffer(texts.buffers()[2], dtype=np.uint8) if texts.buffers()[2] else np.zeros(0, np.uint8)
    return data[offsets[0] : offsets[-1]], offsets - offsets[0]


def ascii_space(data: np.ndarray) -> np.ndarray:
    """Which bytes are ASCII space as Python's str patterns see it (\\t-\\r, \\x1c-\\x1f and the space)."""
    return (data == 32) | ((data - 9) < 5) | ((data - 28) < 4)  # uint8 arithmetic wraps: one compare a range


def ascii_counts(texts: pa.Array | pa.ChunkedArray) -> dict[str, np.ndarray]:
    """Per text: tokens (as `tokenize` counts them: a run of letters and digits, or any one other character
    that is not space), letters and space characters (as Python's str patterns see them: \\x1c-\\x1f are
    space), from the bytes of the whole column at once: exact for ASCII texts, where a byte is a character.
    `other` counts the bytes that are not ASCII (0: the other counts are exact)."""
    if isinstance(texts, pa.ChunkedArray) or len(texts) > _SLICE:
        # slices whose masks stay in the cache, instead of arrays of the column's size (nor a copy of it whole)
        arrays = texts.chunks if isinstance(texts, pa.ChunkedArray) else [texts]
        parts = [ascii_counts(a.slice(i, _SLICE)) for a in arrays for i in range(0, len(a), _SLICE)]
        if parts:
            return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        texts = pa.array([], pa.string())
    data, offsets = string_bytes(texts)
    letter = ((data | 0x20) - 97) < 26  # uint8 arithmetic wraps: one compare per class
    alnum = letter | ((data - 48) < 10)
    space = ascii_space(data)
    starts = alnum.copy()
    starts[1:] &= ~alnum[:-1]
    firsts = offsets[:-1][offsets[1:] > offsets[:-1]]
    starts[firsts] = alnum[firsts]  # a text's first run starts with it, whatever the text before ended with
    lone = (data < 128) & ~alnum & ~space
    wide = np.int64 if len(data) >= 2**31 else np.int32

    def per_text(mask: np.ndarray) -> np.ndarray:
        total = np.concatenate([np.zeros(1, wide), np.cumsum(mask, dtype=wide)])
        return (total[offsets[1:]] - total[offsets[:-1]]).astype(np.int64)

    return {"tokens": per_text(starts | lone), "letters": per_text(letter), "spaces": per_text(space),
            "other": per_text(data >= 128)}  # fmt: skip


def token_counts(texts: pa.ChunkedArray) -> dict[str, int]:
    """How often each token (`tokenize`) occurs in the texts: polars' regex where the text is ASCII, Python's
    elsewhere."""
    counts = ascii_counts(texts)
    ascii_rows = pa.array(counts["other"] == 0)
    tokens = pl.from_arrow(pc.filter(texts, ascii_rows)).str.extract_all(TOKEN_ASCII).explode().drop_nulls()
    total: Counter = Counter(dict(tokens.value_counts().iter_rows()))
    for text in pc.filter(texts, pc.invert(ascii_rows)).to_pylist():
        total.update(tokenize(text))
    return dict(total)
