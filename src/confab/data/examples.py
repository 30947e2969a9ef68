"""Examples straight from one small file, in memory, without a dataset build: for evaluating on a corpus as it
is distributed (PERSONA-CHAT with its candidates) and for quick experiments. No cleaning, no split; the file's
own personas."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from confab.data.records import Problems, message_row
from confab.data.schema import MESSAGE_SCHEMA
from confab.data.sources import READERS, detect_format
from confab.data.threads import examples, forest, kept_messages
from confab.errors import InvalidInput, MissingInput


def examples_from_file(path: str | Path, fmt: str = "auto", kind: str = "paths", max_tokens: int = 100) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        raise MissingInput(f"no such file: {path}")
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt not in READERS:
        raise InvalidInput(f"unknown format '{fmt}'")
    problems = Problems()
    rows = [message_row(m) for m in READERS[fmt].read(path, path.name, problems)]
    if problems.total():
        first = problems.samples[0]
        raise InvalidInput(f"{first['file']}:{first['line']}: {first['kind']}: {first['detail']} "
                         f"({problems.total()} malformed in all)")  # fmt: skip
    table = pa.Table.from_pylist(rows, schema=MESSAGE_SCHEMA)
    trees = forest(table)
    return examples(kept_messages(table, trees, max_tokens), trees, kind, None)[0].to_pylist()
