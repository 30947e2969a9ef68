"""Make a bigger pushshift dump from a real one: N copies, each with its own ids (t1_x -> t1_x_r3), so that
threads, users and examples grow N times instead of collapsing into duplicates."""

from __future__ import annotations

import json
from pathlib import Path

import zstandard

from confab.data.records import Problems
from confab.data.sources.lines import iter_lines


def replicate(src: Path, dest: Path, copies: int) -> int:
    """Write `copies` renamed copies of the dump `src` to `dest` (.zst or plain), streaming; returns the lines."""
    rows = [json.loads(line) for _, line in iter_lines(src, Problems()) if line.strip()]
    # a 1 MiB window, so that copies do not compress into back-references of each other and the file has
    # the size of a real dump of that many comments
    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=20)
    with open(dest, "wb") as raw:
        out = zstandard.ZstdCompressor(compression_params=params).stream_writer(raw) if dest.suffix == ".zst" else raw
        for r in range(copies):
            lines = []
            for row in rows:
                row = dict(row)
                for key in ("id", "parent_id", "link_id"):
                    if isinstance(row.get(key), str):
                        row[key] = f"{row[key]}_r{r}"
                if isinstance(row.get("author"), str) and row["author"] not in ("[deleted]", "AutoModerator"):
                    row["author"] = f"{row['author']}_r{r}"
                lines.append(json.dumps(row) + "\n")
            out.write("".join(lines).encode())
        if out is not raw:
            out.flush(zstandard.FLUSH_FRAME)
    return len(rows) * copies
