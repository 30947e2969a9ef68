"""A frequency dictionary of the N most frequent tokens (Mazaré et al.: N = 250,000), saved as TSV."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from confab.errors import InvalidInput
from confab.io import atomic_write_text

NULL, UNK = "__null__", "__unk__"


class TokenCounter:
    """Counts tokens with bounded memory.

    When more than `capacity` distinct tokens are held, the rarest are dropped (their counts are lost). With a
    capacity of a few times the dictionary size this keeps the top N exact on Zipfian text, which is all a
    frequency dictionary needs.
    """

    def __init__(self, capacity: int = 2_000_000):
        self.capacity = capacity
        self.counts: Counter[str] = Counter()
        self.pruned = 0

    def update(self, tokens: Iterable[str]) -> None:
        self.counts.update(tokens)
        if len(self.counts) > self.capacity:
            keep = self.counts.most_common(self.capacity // 2)
            self.pruned += len(self.counts) - len(keep)
            self.counts = Counter(dict(keep))


@dataclass
class Dictionary:
    """Tokens in id order with their counts; id 0 is padding and id 1 the unknown token."""

    tokens: list[str]
    counts: list[int]

    @classmethod
    def build(cls, counts: Counter[str], max_size: int = 250_000) -> Dictionary:
        # Ties are broken alphabetically so the same counts always give the same ids.
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[: max(0, max_size - 2)]
        return cls([NULL, UNK] + [t for t, _ in ranked], [0, 0] + [c for _, c in ranked])

    def __post_init__(self) -> None:
        self.index = {t: i for i, t in enumerate(self.tokens)}

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, tokens: Iterable[str]) -> list[int]:
        unk = self.index[UNK]
        return [self.index.get(t, unk) for t in tokens]

    def save(self, path: str | Path) -> None:
        lines = [f"{_escape(t)}\t{c}\n" for t, c in zip(self.tokens, self.counts, strict=True)]
        atomic_write_text(path, "".join(lines))

    @classmethod
    def load(cls, path: str | Path) -> Dictionary:
        tokens, counts = [], []
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                token, sep, count = line.rstrip("\n").rpartition("\t")
                if not sep or not count.isdigit():
                    raise InvalidInput(f"{path}:{lineno}: expected 'token<TAB>count', got {line[:80]!r}")
                tokens.append(_unescape(token))
                counts.append(int(count))
        if tokens[:2] != [NULL, UNK]:
            raise InvalidInput(f"{path}: a dictionary starts with {NULL} and {UNK}")
        return cls(tokens, counts)


def _escape(token: str) -> str:
    return token.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def _unescape(token: str) -> str:
    out, i = [], 0
    while i < len(token):
        if token[i] == "\\" and i + 1 < len(token):
            out.append({"t": "\t", "n": "\n", "\\": "\\"}.get(token[i + 1], token[i + 1]))
            i += 2
        else:
            out.append(token[i])
            i += 1
    return "".join(out)
