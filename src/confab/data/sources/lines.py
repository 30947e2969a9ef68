"""Byte lines from plain or compressed files, streaming, with malformed input reported and skipped.

pushshift dumps are zstd with a 2 GiB window (`--long=31`), which the default decoder refuses; truncated
archives raise at the end and everything read before is kept; undecodable UTF-8 and absurdly long lines are
reported with file and line number and skipped.
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

import zstandard

from confab.data.records import Problems

CHUNK = 1 << 20
MAX_LINE_BYTES = 64 << 20  # longer lines are reported and skipped instead of filling memory

# Rough size of the uncompressed text per byte of file, used only to choose the number of partitions.
EXPANSION = {".zst": 7.0, ".bz2": 6.0, ".xz": 7.0, ".gz": 4.0}


def open_binary(path: Path) -> tuple[BinaryIO, BinaryIO]:
    """Open `path` for reading, decompressing by its suffix; returns (reader, raw file) so that callers can
    follow progress in compressed bytes with `raw.tell()`."""
    suffix = path.suffix.lower()
    raw = open(path, "rb")  # noqa: SIM115 - closed by the caller through the reader or itself
    if suffix == ".zst":
        return ZstdReader(raw), raw
    if suffix == ".bz2":
        return bz2.BZ2File(raw), raw
    if suffix == ".xz":
        return lzma.LZMAFile(raw), raw
    if suffix == ".gz":
        return gzip.GzipFile(fileobj=raw), raw
    return raw, raw


def read_json(path: Path, problems: Problems, repair: Callable[[str], str] | None = None) -> object | None:
    """The file as one JSON document (after `repair` of its text, when given); None, with the problem recorded,
    when it cannot be read, decoded or parsed."""
    text = _read_text(path, problems)
    if text is None:
        return None
    try:
        return json.loads(repair(text) if repair else text)
    except json.JSONDecodeError as e:
        problems.add("bad_json", str(path), e.lineno, str(e))
        return None


def read_json_as(path: Path, problems: Problems, expected: type, what: str) -> object | None:
    """The file as one JSON document of type `expected` (`what` names it in the report); None, with the problem
    recorded, when it is not."""
    data = read_json(path, problems)
    if data is not None and not isinstance(data, expected):
        problems.add("bad_record", str(path), 1, f"expected {what}")
        return None
    return data


def iter_json_documents(path: Path, problems: Problems) -> Iterator[tuple[int, dict]]:
    """(line number, object) for every JSON object of a file of several documents written one after another:
    arrays of objects, bare objects, `[,` starts, missing commas between them. What cannot be parsed is
    reported with its line and skipped up to the next object, so one damaged record loses only itself."""
    text = _read_text(path, problems)
    if text is None:
        return
    decoder, pos, end = json.JSONDecoder(), 0, len(text)
    line, counted = 1, 0  # the line of `pos`, counted incrementally (a file may be one long line or many)
    while pos < end:
        if text[pos] in " \t\r\n,[]":  # separators between and around the objects
            pos += 1
            continue
        line, counted = line + text.count("\n", counted, pos), pos
        try:
            value, after = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as e:
            problems.add("bad_json", str(path), e.lineno, f"{e.msg} (character {e.pos}); skipped to the next object")
            nxt = text.find("{", pos + 1)
            pos = nxt if nxt >= 0 else end
            continue
        if isinstance(value, dict):
            yield line, value
        else:
            problems.add("bad_record", str(path), line, "expected a JSON object")
        pos = after


def _read_text(path: Path, problems: Problems) -> str | None:
    """The whole decoded file; None when it cannot be read."""
    chunks = []
    reader, raw = open_binary(path)
    try:
        with raw, reader:
            while chunk := reader.read(CHUNK):
                chunks.append(chunk)
    except (EOFError, OSError, lzma.LZMAError, zstandard.ZstdError) as e:
        problems.add(_archive_problem(e), str(path), 0, f"{type(e).__name__}: {e}")
        return None
    try:
        return b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError as e:
        line = b"".join(chunks)[: e.start].count(b"\n") + 1
        problems.add("bad_utf8", str(path), line, str(e))
        return None


def iter_blocks(
    path: Path, problems: Problems, on_progress: Callable[[int], None] | None = None
) -> Iterator[tuple[int, bytes]]:
    """Yield (number of its first line, bytes of one or more whole lines joined by newlines) for every chunk read:
    the raw lines of `iter_lines`, a block at a time, for readers that parse many lines at once. Lines that grow
    past MAX_LINE_BYTES are reported and left out, and a damaged archive ends the blocks with a problem.

    `on_progress` is called with the number of compressed bytes read so far, once per chunk.
    """
    name = str(path)
    lineno = 0
    pending: list[bytes] = []  # the pieces of the line read up to its newline, not yet whole
    held = 0  # their bytes
    skipping = False  # inside a line that grew past MAX_LINE_BYTES
    reader, raw = open_binary(path)
    try:
        with raw, reader:
            while chunk := reader.read(CHUNK):
                if on_progress is not None:
                    on_progress(raw.tell())
                cut = chunk.rfind(b"\n")
                if cut >= 0:
                    # the block is copied once, from the pieces (bytes slices would copy every byte twice more)
                    view = memoryview(chunk)
                    if skipping:  # the end of the line too long, up to its newline
                        lineno += 1
                        end = chunk.find(b"\n")
                        skipping, block = False, (bytes(view[end + 1 : cut]) if end < cut else None)
                    else:
                        block = b"".join([*pending, view[:cut]])
                    pending, held = [chunk[cut + 1 :]], len(chunk) - cut - 1
                    if block is not None:
                        yield lineno + 1, block
                        lineno += block.count(b"\n") + 1
                elif not skipping:
                    pending.append(chunk)
                    held += len(chunk)
                if held > MAX_LINE_BYTES and not skipping:
                    problems.add("line_too_long", name, lineno + 1, f"over {MAX_LINE_BYTES} bytes; skipped")
                    skipping, pending, held = True, [], 0
    except (EOFError, OSError, lzma.LZMAError, zstandard.ZstdError) as e:
        problems.add(_archive_problem(e), name, lineno + 1, f"{type(e).__name__}: {e}; lines before it kept")
        return
    if held and not skipping:
        yield lineno + 1, b"".join(pending)


def iter_lines(
    path: Path, problems: Problems, on_progress: Callable[[int], None] | None = None
) -> Iterator[tuple[int, str]]:
    """Yield (line number, decoded line without its newline) for every well-formed line."""
    for first, lines in iter_blocks(path, problems, on_progress):
        yield from decoded_lines(lines, first, str(path), problems)


def decoded_lines(lines: bytes, first: int, name: str, problems: Problems) -> Iterator[tuple[int, str]]:
    """(line number, text) of each line of a block that is valid UTF-8; the others are reported."""
    for lineno, part in enumerate(lines.split(b"\n"), start=first):
        if (text := _decode(part, name, lineno, problems)) is not None:
            yield lineno, text


def json_values(lines: Iterable[tuple[int, str]], name: str, problems: Problems) -> Iterator[tuple[int, object]]:
    """(line number, parsed value) for every non-blank line that is valid JSON; the others are reported."""
    for lineno, line in lines:
        if not line.strip():
            continue
        try:
            yield lineno, json.loads(line)
        except json.JSONDecodeError as e:
            problems.add("bad_json", name, lineno, str(e))


def iter_json_lines(
    path: Path, problems: Problems, on_progress: Callable[[int], None] | None = None
) -> Iterator[tuple[int, object]]:
    """Yield (line number, parsed value) for every non-blank line that is valid JSON; report the others."""
    return json_values(iter_lines(path, problems, on_progress), str(path), problems)


def _archive_problem(error: Exception) -> str:
    return "truncated_archive" if isinstance(error, EOFError) else "corrupt_archive"


def _decode(raw: bytes, name: str, lineno: int, problems: Problems) -> str | None:
    try:
        return raw.decode("utf-8").rstrip("\r")
    except UnicodeDecodeError as e:
        problems.add("bad_utf8", name, lineno, f"{e.reason} at byte {e.start}")
        return None


class ZstdReader:
    """Reads a zstd file frame after frame; raises EOFError when the last frame is cut short.

    python-zstandard's stream reader silently stops at a truncated frame, which would lose the fact that the
    archive is incomplete; decompressing frame by frame lets us notice it.
    """

    def __init__(self, raw: BinaryIO):
        self._raw = raw
        self._dctx = zstandard.ZstdDecompressor(max_window_size=2**31)
        self._obj = self._dctx.decompressobj()
        self._in_frame = False

    def read(self, size: int = CHUNK) -> bytes:
        while True:
            data = self._raw.read(size)
            if not data:
                if self._in_frame:
                    raise EOFError("zstd archive ends in the middle of a frame")
                return b""
            out = []
            while data:
                out.append(self._obj.decompress(data))
                self._in_frame = True
                if self._obj.eof:
                    data = self._obj.unused_data
                    self._obj = self._dctx.decompressobj()
                    self._in_frame = False
                else:
                    data = b""
            if result := b"".join(out):
                return result

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> ZstdReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
