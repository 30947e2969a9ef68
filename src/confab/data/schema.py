"""The one on-disk example format: Parquet shards under DIR/{train,valid,test}/, one row per example.

| column            | type           | meaning                                                              |
|-------------------|----------------|----------------------------------------------------------------------|
| id                | string         | the response's message id, unique across the dataset                 |
| context           | list<string>   | the turns before the response, oldest first (pairs: just the parent) |
| context_ids       | list<string>   | their message ids                                                    |
| context_authors   | list<string>   | their authors (null where unknown)                                   |
| response          | string         | the response                                                         |
| response_author   | string         | its author (null where unknown or deleted)                           |
| persona           | list<string>   | the responder's persona sentences, possibly empty                    |
| subreddit         | string         | null outside Reddit                                                  |
| created_utc       | int64          | seconds since 1970 (UTC), null where the source has none             |
| thread_id         | string         | the thread (Reddit link id) or dialogue the example comes from       |
| candidates        | list<string>   | candidate responses where the source has them (PERSONA-CHAT: 20)     |
| candidate_labels  | list<int8>     | 1 for a correct candidate, 0 otherwise                               |
| source            | string         | the input file's name                                                |

Texts keep their original spelling; comments are cut after 100 tokens (Mazaré et al. 3.1).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from confab.errors import InvalidInput, MissingInput

SPLITS = ("train", "valid", "test")

EXAMPLE_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("context", pa.list_(pa.string())),
        ("context_ids", pa.list_(pa.string())),
        ("context_authors", pa.list_(pa.string())),
        ("response", pa.string()),
        ("response_author", pa.string()),
        ("persona", pa.list_(pa.string())),
        ("subreddit", pa.string()),
        ("created_utc", pa.int64()),
        ("thread_id", pa.string()),
        ("candidates", pa.list_(pa.string())),
        ("candidate_labels", pa.list_(pa.int8())),
        ("source", pa.string()),
    ]
)

# Messages between the build's stages (Arrow IPC files in the work folder).
MESSAGE_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("parent_id", pa.string()),
        ("thread_id", pa.string()),
        ("author", pa.string()),
        ("text", pa.string()),
        ("subreddit", pa.string()),
        ("created_utc", pa.int64()),
        ("kind", pa.string()),
        ("respond", pa.bool_()),
        ("persona", pa.list_(pa.string())),
        ("candidates", pa.list_(pa.string())),
        ("candidate_labels", pa.list_(pa.int8())),
        ("source", pa.string()),
        ("line", pa.int64()),
    ]
)


def split_files(dataset: str | Path, split: str) -> list[Path]:
    if split not in SPLITS:
        raise InvalidInput(f"unknown split '{split}'; splits: {', '.join(SPLITS)}")
    folder = Path(dataset) / split
    if not folder.is_dir():
        raise MissingInput(f"{dataset}: no '{split}' folder; is it a confab dataset (confab data build)?")
    return sorted(folder.glob("*.parquet"))


def read_split(dataset: str | Path, split: str, columns: list[str] | None = None) -> pa.Table:
    files = split_files(dataset, split)
    if not files:
        return EXAMPLE_SCHEMA.empty_table() if columns is None else EXAMPLE_SCHEMA.empty_table().select(columns)
    return pa.concat_tables(pq.read_table(f, columns=columns, schema=EXAMPLE_SCHEMA) for f in files)


def iter_examples(dataset: str | Path, split: str, batch_size: int = 4096) -> Iterator[dict]:
    """Rows of one split as dicts, streaming shard by shard."""
    for f in split_files(dataset, split):
        for batch in pq.ParquetFile(f).iter_batches(batch_size=batch_size):
            yield from batch.to_pylist()
