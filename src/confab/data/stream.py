"""A dataset split streamed from its Parquet files and shared among the ranks of a distributed run.

In each epoch the row groups of the split's files are put in an order drawn from (seed, epoch); the rows of that
order are cut into `world` contiguous shares that differ by at most one row, and rank r reads only the row groups
that overlap share r. So every example goes to exactly one rank per epoch (no duplicate, no loss), and a rank
holds one row group and a shuffle buffer in memory, whatever the size of the split.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from confab.data.schema import read_split
from confab.errors import InvalidInput, MissingInput


@dataclass(frozen=True)
class Piece:
    path: Path
    row_group: int
    rows: int


def pieces(dataset: str | Path, split: str) -> list[Piece]:
    """Every non-empty row group of the split, in file order, from the files' metadata (no data is read)."""
    files = sorted((Path(dataset) / split).glob("*.parquet"))
    if not files:
        raise MissingInput(f"{dataset}: no {split} split (no {split}/*.parquet)")
    found = []
    for f in files:
        meta = pq.ParquetFile(f).metadata
        found += [Piece(f, g, n) for g in range(meta.num_row_groups) if (n := meta.row_group(g).num_rows)]
    return found


def share(total: int, rank: int, world: int) -> tuple[int, int]:
    """[start, stop) of rank's rows among `total`: contiguous, sizes differing by at most one."""
    return total * rank // world, total * (rank + 1) // world


def plan(parts: list[Piece], epoch: int, seed: int, rank: int, world: int) -> list[tuple[Piece, int, int]]:
    """The (row group, first row, end row) slices rank reads in this epoch."""
    if not 0 <= rank < world:
        raise InvalidInput(f"rank {rank} is not in a world of {world}")
    order = np.random.default_rng([seed, epoch]).permutation(len(parts))
    start, stop = share(sum(p.rows for p in parts), rank, world)
    slices, offset = [], 0
    for i in order:
        piece = parts[i]
        lo, hi = max(start, offset), min(stop, offset + piece.rows)
        if lo < hi:
            slices.append((piece, lo - offset, hi - offset))
        offset += piece.rows
    return slices


def stream(datasets: str | Path | list, split: str, rank: int = 0, world: int = 1, epoch: int = 0, seed: int = 0,
           buffer: int = 10_000, columns: list[str] | None = None) -> Iterator[dict]:  # fmt: skip
    """Rank's examples of this epoch from one or more datasets, shuffled through a buffer of `buffer` rows
    (seeded by seed, epoch and rank)."""
    rng = np.random.default_rng([seed, epoch, rank, 1])
    held: list[dict] = []
    parts = [p for d in (datasets if isinstance(datasets, list) else [datasets]) for p in pieces(d, split)]
    for piece, lo, hi in plan(parts, epoch, seed, rank, world):
        table = pq.ParquetFile(piece.path).read_row_group(piece.row_group, columns=columns).slice(lo, hi - lo)
        for row in table.to_pylist():
            if len(held) < buffer:
                held.append(row)
                continue
            i = int(rng.integers(len(held)))
            yield held[i]
            held[i] = row
    rng.shuffle(held)
    yield from held


def training_rows(datasets: list[Path], streamed: bool, max_train: int | None) -> tuple[list[dict] | None, int]:
    """A trainer's training examples: the train splits read into memory (the first `max_train`), or, `streamed`, None
    and their count (each rank reads its share with `stream`)."""
    if not streamed:
        rows = [row for d in datasets for row in read_split(d, "train").to_pylist()][:max_train]
        return rows, len(rows)
    if max_train is not None:
        raise InvalidInput("--max-train reads the first examples into memory; it does not go with --stream")
    return None, sum(p.rows for d in datasets for p in pieces(d, "train"))
