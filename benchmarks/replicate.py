"""Make a bigger pushshift dump from a real one: N copies, each with its own ids (t1_x -> t1_x_r3), so that
threads, users and examples grow N times instead of collapsing into duplicates."""

from __future__ import annotations

import json
from pathlib import Path

import zstandard

from confab.data.records import Problems
from confab.data.sources.lines import iter_lines


def replicate(src: Path, dest: Path, copies: int) -> int:
    """Write `copies` renamed copies of the dump `src` to `dest` (.zst or plain); returns the lines written."""
    rows = [json.loads(line) for _, line in iter_lines(src, Problems()) if line.strip()]
    out = []
    for r in range(copies):
        for row in rows:
            row = dict(row)
            for key in ("id", "parent_id", "link_id"):
                if isinstance(row.get(key), str):
                    row[key] = f"{row[key]}_r{r}"
            if isinstance(row.get("author"), str) and row["author"] not in ("[deleted]", "AutoModerator"):
                row["author"] = f"{row['author']}_r{r}"
            out.append(json.dumps(row))
    data = ("\n".join(out) + "\n").encode()
    if dest.suffix == ".zst":
        # a 1 MiB window, so that copies do not compress into back-references of each other and the file has
        # the size of a real dump of that many comments
        params = zstandard.ZstdCompressionParameters.from_level(3, window_log=20)
        data = zstandard.ZstdCompressor(compression_params=params).compress(data)
    dest.write_bytes(data)
    return len(out)
