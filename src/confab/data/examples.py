"""Examples straight from one small file, in memory, without a dataset build: for evaluating on a corpus as it
is distributed (PERSONA-CHAT with its candidates) and for quick experiments. No cleaning, no split; the file's
own personas."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

from confab.data.records import Message, Problems
from confab.data.sources import READERS, detect_format
from confab.data.threads import build_thread, make_example, walk


def examples_from_file(path: str | Path, fmt: str = "auto", kind: str = "paths", max_tokens: int = 100) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt not in READERS:
        raise ValueError(f"unknown format '{fmt}'")
    problems = Problems()
    threads: dict[str, list[Message]] = defaultdict(list)
    for message in READERS[fmt].read(path, path.name, problems):
        threads[message.thread_id].append(message)
    if problems.total():
        first = problems.samples[0]
        raise ValueError(f"{first['file']}:{first['line']}: {first['kind']}: {first['detail']} "
                         f"({problems.total()} malformed in all)")  # fmt: skip
    out = []
    for messages in threads.values():
        for message, ancestors in walk(build_thread(messages), None, Counter()):
            example = make_example(message, ancestors, kind, max_tokens, None)
            if example is not None:
                out.append(example)
    return out
