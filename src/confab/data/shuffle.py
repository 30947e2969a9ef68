"""The local engine's on-disk shuffle: records sent from P map tasks to P reduce partitions.

Each map task writes one Arrow IPC file whose record batches are grouped by destination partition, and beside it
an index {partition: [batch numbers]}. A reducer reads only its own batches from each file. P map tasks and P
partitions thus make P files, not P², which matters when P is in the thousands.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from confab.io import atomic_path

FLUSH_ROWS = 50_000  # rows buffered before they are written out: bounds a writer's memory


class ShuffleWriter:
    """The rows of tables sent to their partitions, buffered so that each partition gets one record batch per
    flush, not one per table added (a reader's blocks are small; thousands of tiny batches cost at both ends)."""

    def __init__(self, path: Path, schema: pa.Schema, flush_rows: int = FLUSH_ROWS):
        self.path, self.schema, self.flush_rows = path, schema, flush_rows
        self.buffers: dict[int, list[pa.Table]] = defaultdict(list)
        self.index: dict[int, list[int]] = defaultdict(list)
        self.buffered = 0
        self.batches = 0
        self.sink = pa.OSFile(str(path), "wb")
        self.writer = ipc.new_file(self.sink, schema)

    def add_table(self, partitions: np.ndarray, table: pa.Table) -> None:
        """Every row of `table` to its partition (`partitions`, one per row), order kept within each partition."""
        for partition, rows in by_partition(partitions, table):
            self.buffers[partition].append(rows)
        self.buffered += table.num_rows
        if self.buffered >= self.flush_rows:
            self.flush()

    def flush(self) -> None:
        for partition in sorted(self.buffers):
            for batch in pa.concat_tables(self.buffers[partition]).combine_chunks().to_batches():
                self.writer.write_batch(batch)
                self.index[partition].append(self.batches)
                self.batches += 1
        self.buffers.clear()
        self.buffered = 0

    def close(self) -> None:
        self.flush()
        self.writer.close()
        self.sink.close()
        _index_path(self.path).write_text(json.dumps({str(k): v for k, v in sorted(self.index.items())}))

    def __enter__(self) -> ShuffleWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def by_partition(partitions: np.ndarray, table: pa.Table) -> Iterator[tuple[int, pa.Table]]:
    """(partition, its rows of `table` in their order) for each partition that `partitions` [one per row] names."""
    order = np.argsort(partitions, kind="stable")
    ordered, table = partitions[order], table.take(pa.array(order))
    cuts = np.flatnonzero(np.diff(ordered)) + 1
    for start, stop in zip([0, *cuts], [*cuts, len(ordered)], strict=True):
        if stop > start:
            yield int(ordered[start]), table.slice(start, stop - start)


def partition_batches(paths: Iterable[Path], partition: int) -> Iterator[pa.RecordBatch]:
    """The record batches every file in `paths` holds for `partition`, file by file."""
    for path in paths:
        if not path.exists():
            continue
        numbers = json.loads(_index_path(path).read_text()).get(str(partition), [])
        if numbers:
            with pa.OSFile(str(path)) as file:
                reader = ipc.open_file(file)
                batches = [reader.get_batch(i) for i in numbers]
            yield from batches


def partition_table(paths: Iterable[Path], partition: int, schema: pa.Schema) -> pa.Table:
    return pa.Table.from_batches(list(partition_batches(paths, partition)), schema=schema)


def all_batches(paths: Iterable[Path], columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
    """Every batch of every file, whatever its partition."""
    for path in paths:
        if path.exists():
            reader = ipc.open_file(pa.memory_map(str(path)))
            for i in range(reader.num_record_batches):
                batch = reader.get_batch(i)
                yield batch.select(columns) if columns else batch


def contiguous(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """A column as one array: its only chunk as it is (`combine_chunks` copies even that), or the chunks joined."""
    if isinstance(column, pa.ChunkedArray):
        return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    return column


def write_table(path: Path, table: pa.Table) -> None:
    """One whole table as an Arrow IPC file, atomically."""
    with atomic_path(path) as tmp, pa.OSFile(str(tmp), "wb") as sink, ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def read_table(path: Path) -> pa.Table:
    return ipc.open_file(pa.memory_map(str(path))).read_all()


def _index_path(path: Path) -> Path:
    return path.with_name(path.name + ".index.json")
