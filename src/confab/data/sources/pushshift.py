"""pushshift Reddit dumps: comments (RC_*) and submissions (RS_*), one JSON object a line.

Comments become messages whose parent is `parent_id` (a t1_ comment or the t3_ submission) in the thread
`link_id`; submissions become the root turn of their thread (title, then self text when there is one).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from confab.data.records import Message, Problems
from confab.data.sources.lines import iter_json_lines

FORMAT = "pushshift"
GONE = ("[deleted]", "[removed]")


def read(
    path: Path, source: str, problems: Problems, on_progress: Callable[[int], None] | None = None
) -> Iterator[Message]:
    for lineno, obj in iter_json_lines(path, problems, on_progress):
        try:
            message = parse(obj)
        except ValueError as e:
            problems.add("bad_record", str(path), lineno, str(e))
            continue
        message.source, message.line = source, lineno
        yield message


def parse(obj: object) -> Message:
    """A pushshift comment or submission object as a Message; ValueError naming the bad field otherwise."""
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
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
    raise ValueError("neither a comment (no 'body') nor a submission (no 'title')")


def _field(obj: dict, key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"field '{key}' is missing or not a non-empty string")
    return value


def _body(obj: dict) -> str:
    body = obj.get("body")
    if not isinstance(body, str):
        raise ValueError("field 'body' is not a string")
    return body  # may be empty: the cleaning's token-count rule drops it and counts it


def _optional_str(obj: dict, key: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"field '{key}' is not a string")
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
        raise ValueError(f"field 'created_utc' is not a number: {value!r}") from None
