"""pushshift Reddit dumps: comments (RC_*) and submissions (RS_*), one JSON object a line.

Comments become messages whose parent is `parent_id` (a t1_ comment or the t3_ submission) in the thread
`link_id`; submissions become the root turn of their thread (title, then self text when there is one).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.json as pajson

from confab.data.records import Message, Problems, message_row
from confab.data.schema import MESSAGE_SCHEMA
from confab.data.sources.lines import decoded_lines, iter_blocks, json_values
from confab.errors import InvalidInput

FORMAT = "pushshift"
GONE = ("[deleted]", "[removed]")


def read(
    path: Path, source: str, problems: Problems, on_progress: Callable[[int], None] | None = None
) -> Iterator[Message]:
    for first, lines in iter_blocks(path, problems, on_progress):
        yield from _messages(lines, first, path, source, problems)


def read_batches(
    path: Path, source: str, problems: Problems, on_progress: Callable[[int], None] | None = None
) -> Iterator[pa.Table]:
    """`read` as tables of message rows (MESSAGE_SCHEMA), a block of lines at a time: a block is parsed by
    polars' JSON reader in one call when that is sure to give what `read` gives, else line by line by `read`'s
    own path (any malformed line, blank line or field of an unexpected type sends its block there, so problems
    are reported exactly as `read` reports them)."""
    for first, lines in iter_blocks(path, problems, on_progress):
        yield read_block(lines, first, path, source, problems)


def read_block(lines: bytes, first: int, path: Path, source: str, problems: Problems) -> pa.Table:
    """One block of `iter_blocks` (its first line's number, its lines) as a table of message rows."""
    table = _columnar(lines, first, source)
    if table is None:
        rows = [message_row(m) for m in _messages(lines, first, path, source, problems)]
        table = pa.Table.from_pylist(rows, schema=MESSAGE_SCHEMA)
    return table


def _messages(lines: bytes, first: int, path: Path, source: str, problems: Problems) -> Iterator[Message]:
    name = str(path)
    for lineno, obj in json_values(decoded_lines(lines, first, name, problems), name, problems):
        try:
            message = parse(obj)
        except ValueError as e:
            problems.add("bad_record", name, lineno, str(e))
            continue
        message.source, message.line = source, lineno
        yield message


_FIELDS = pa.schema([(name, pa.string()) for name in
                     ("id", "parent_id", "link_id", "author", "body", "subreddit", "title", "selftext")]
                    + [("created_utc", pa.int64())])  # fmt: skip
# Arrow's JSON reader is strict where polars' is not: a number, object or boolean where a string is expected, a
# string for the time or a key given twice is an error, and the block goes to the line-by-line path (polars writes
# a number read into a string column as its text, which needed a regex over every block first); it does not check
# UTF-8, which a decode of the block does (1 ms for 16 MB)
_JSON_OPTIONS = pajson.ParseOptions(explicit_schema=_FIELDS, unexpected_field_behavior="ignore")
_ONE_THREAD = pajson.ReadOptions(use_threads=False)  # the build's processes are one per core already
_PY_SPACE = "".join(c for c in map(chr, range(0x3001)) if c.isspace())  # what str.strip() strips


def _columnar(lines: bytes, first: int, source: str) -> pa.Table | None:
    """The block's message rows as `parse` makes them, or None when Arrow's reader might read it otherwise."""
    try:
        lines.decode("utf-8")
        frame = pl.from_arrow(pajson.read_json(pa.BufferReader(lines), _ONE_THREAD, _JSON_OPTIONS))
    except (UnicodeDecodeError, pa.ArrowException):  # any failure is the line-by-line path's to report
        return None
    if frame.height != lines.count(b"\n") + 1:  # a blank line, which read skips without a number
        return None
    comment = pl.col("body").is_not_null()
    filled = [pl.col(c).fill_null("") != "" for c in ("id", "parent_id", "link_id", "title")]
    bad = frame.select(
        (comment & ~(filled[0] & filled[1] & filled[2])) | (~comment & ~(filled[0] & filled[3]))
    ).to_series()
    if bad.any() or (b'"body"' in lines and not frame["body"].is_not_null().all()):
        return None  # a bad record, or a submission-looking row in a block that names a body: `parse` decides
    selftext = pl.col("selftext").fill_null("")
    own = pl.when(comment).then(pl.lit("t1_")).otherwise(pl.lit("t3_"))
    fullname = pl.when(pl.col("id").str.starts_with(own)).then(pl.col("id")).otherwise(own + pl.col("id"))
    with_text = (selftext.str.strip_chars(_PY_SPACE) != "") & ~selftext.is_in(list(GONE))
    author = pl.col("author")
    frame = frame.with_row_index("row").select(
        fullname.alias("id"),
        pl.when(comment).then(pl.col("parent_id")).otherwise(None).alias("parent_id"),
        pl.when(comment).then(pl.col("link_id")).otherwise(fullname).alias("thread_id"),
        pl.when(author.is_in(["", "[deleted]"])).then(None).otherwise(author).alias("author"),
        pl.when(comment)
        .then(pl.col("body"))
        .when(with_text)
        .then(pl.col("title") + "\n\n" + selftext)
        .otherwise(pl.col("title"))
        .alias("text"),
        "subreddit",
        "created_utc",
        pl.when(comment).then(pl.lit("comment")).otherwise(pl.lit("submission")).alias("kind"),
        comment.alias("respond"),
        pl.lit(source).alias("source"),
        (pl.col("row").cast(pl.Int64) + first).alias("line"),
    )
    n = frame.height
    columns = {c: frame[c].to_arrow() for c in frame.columns}
    columns["persona"] = pa.nulls(n, pa.list_(pa.string()))
    columns["candidates"] = pa.array([[]] * n, pa.list_(pa.string()))
    columns["candidate_labels"] = pa.array([[]] * n, pa.list_(pa.int8()))
    return pa.table([columns[f.name].cast(f.type) for f in MESSAGE_SCHEMA], schema=MESSAGE_SCHEMA)


def parse(obj: object) -> Message:
    """A pushshift comment or submission object as a Message; ValueError naming the bad field otherwise."""
    if not isinstance(obj, dict):
        raise InvalidInput(f"expected a JSON object, got {type(obj).__name__}")
    if "body" in obj:
        return Message(
            id=_fullname(_field(obj, "id"), "t1_"),
            parent_id=_field(obj, "parent_id"),
            thread_id=_field(obj, "link_id"),
            author=_author(obj),
            text=_body(obj),
            subreddit=_optional_str(obj, "subreddit"),
            created_utc=_time(obj),
            kind="comment",
        )
    if "title" in obj:
        fullname = _fullname(_field(obj, "id"), "t3_")
        title, selftext = _field(obj, "title"), _optional_str(obj, "selftext") or ""
        text = f"{title}\n\n{selftext}" if selftext.strip() and selftext not in GONE else title
        return Message(
            id=fullname,
            parent_id=None,
            thread_id=fullname,
            author=_author(obj),
            text=text,
            subreddit=_optional_str(obj, "subreddit"),
            created_utc=_time(obj),
            kind="submission",
            respond=False,
        )
    raise InvalidInput("neither a comment (no 'body') nor a submission (no 'title')")


def _field(obj: dict, key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"field '{key}' is missing or not a non-empty string")
    return value


def _body(obj: dict) -> str:
    body = obj.get("body")
    if not isinstance(body, str):
        raise InvalidInput("field 'body' is not a string")
    return body  # may be empty: the cleaning's token-count rule drops it and counts it


def _optional_str(obj: dict, key: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise InvalidInput(f"field '{key}' is not a string")
    return value


def _author(obj: dict) -> str | None:
    author = _optional_str(obj, "author")
    return None if author in (None, "", "[deleted]") else author


def _fullname(id_: str, prefix: str) -> str:
    return id_ if id_.startswith(prefix) else prefix + id_


def _time(obj: dict) -> int | None:
    value = obj.get("created_utc")
    if value is None:
        return None
    try:
        return int(float(value))  # some dump years store it as a string
    except (TypeError, ValueError):
        raise InvalidInput(f"field 'created_utc' is not a number: {value!r}") from None
