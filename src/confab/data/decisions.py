"""A memory of yes/no decisions about sentences, of a fixed size in arrays: what the part-of-speech rules decided.

The tagger's memory was a dict from sentence to decision, its least recently asked sentence forgotten first: about
160 bytes a sentence (the string, its slot), so 200,000 sentences in 32 MB, which at 10M comments forgot 3.4% of
the sentences that came again. Here a sentence is its 64-bit hash and a decision one byte: 4M decisions in 38 MB,
allocated once, whatever the input's size. The slots form sets of WAYS (a set-associative cache, as a CPU's): a
sentence's hash picks its set, the set keeps its sentences most recently asked first and forgets the last.

Two different sentences with the same 64-bit hash would share a decision: about 1 in 2^64 per question asked.
The hash is Python's, salted per process: the memory lives in the process that asks.
"""

from __future__ import annotations

import numpy as np

WAYS = 4


class DecisionCache:
    def __init__(self, size: int):
        self.sets = max(1, size // WAYS)
        self._keys = np.zeros((self.sets, WAYS), np.uint64)  # 0: an empty slot
        self._values = np.zeros((self.sets, WAYS), np.bool_)

    def __len__(self) -> int:
        return int(np.count_nonzero(self._keys))

    def lookup(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """For distinct `texts`: which are remembered, and their decisions (False where not remembered)."""
        keys, rows = self._rows(texts)
        found = self._keys[rows] == keys[:, None]
        known = found.any(axis=1)
        return known, (self._values[rows] & found).any(axis=1)

    def remember(self, texts: list[str], decisions: list[bool] | np.ndarray) -> None:
        """Put distinct `texts` first in their sets with their decisions, in order (a text remembered moves first;
        the last of a full set is forgotten)."""
        keys, rows = self._rows(texts)
        decisions = np.asarray(decisions, np.bool_)
        # texts of one set go in rounds, the first of each set, then the second..., so each round moves every
        # set it touches once and the last text asked ends first
        order = np.argsort(rows, kind="stable")
        ordered = rows[order]
        starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
        rank = np.empty(len(rows), np.int64)
        rank[order] = np.arange(len(rows)) - np.repeat(starts, np.diff(np.r_[starts, len(rows)]))
        for r in range(int(rank.max(initial=-1)) + 1):
            now = rank == r
            self._first(keys[now], rows[now], decisions[now])

    def _first(self, keys: np.ndarray, rows: np.ndarray, decisions: np.ndarray) -> None:
        """Each key first in its row (rows distinct), its own slot or the row's last one given up."""
        old_keys, old_values = self._keys[rows], self._values[rows]
        found = old_keys == keys[:, None]
        gone = np.where(found.any(axis=1), found.argmax(axis=1), WAYS - 1)
        after = np.arange(WAYS - 1)[None, :]
        order = np.concatenate([gone[:, None], after + (after >= gone[:, None])], axis=1)
        new_keys = np.take_along_axis(old_keys, order, axis=1)
        new_values = np.take_along_axis(old_values, order, axis=1)
        new_keys[:, 0], new_values[:, 0] = keys, decisions
        self._keys[rows], self._values[rows] = new_keys, new_values

    def _rows(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        keys = np.fromiter((hash(t) for t in texts), np.int64, len(texts)).view(np.uint64)
        keys[keys == 0] = 1
        return keys, (keys % np.uint64(self.sets)).astype(np.int64)
