"""One reader per input format; each yields `Message`s and reports malformed input to `Problems`."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

from confab.data.records import Problems
from confab.data.sources import (
    chitchat,
    dailydialog,
    dailydialogpp,
    jsonl,
    knover,
    parlai,
    pushshift,
    redditpairs,
    syntheticpersonachat,
    topicalchat,
    xpersona,
)
from confab.data.sources.lines import open_binary
from confab.errors import InvalidInput

READERS: dict[str, ModuleType] = {
    m.FORMAT: m
    for m in (
        pushshift, parlai, knover, xpersona, syntheticpersonachat, dailydialog, dailydialogpp, topicalchat, chitchat,
        jsonl, redditpairs,
    )
}  # fmt: skip
FORMATS = tuple(READERS)
# Formats whose files carry the responder's persona.
WITH_PERSONAS = ("parlai", "knover", "xpersona", "syntheticpersonachat", "jsonl")
# Curated corpora are kept whole by default (they are benchmarks); Reddit-like data is cleaned.
CLEANED_BY_DEFAULT = ("pushshift", "redditpairs", "jsonl")


def detect_format(path: Path) -> str:
    """The format of `path` from its name and first line; ValueError when that is ambiguous."""
    name = path.name
    if name.startswith(("RC_", "RS_")):
        return "pushshift"
    head = _first_line(path)
    stripped = head.lstrip()
    if "__eou__" in head:
        return "dailydialog"
    if head.split("\t")[:2] == ["src", "tgt"] or " [SEP] " in head:
        return "knover"
    if stripped[:1].isdigit() and ("persona:" in head or "\t" in head):
        return "parlai"
    if stripped.startswith("[") and "qSentId" in head:
        return "redditpairs"
    if stripped.startswith("[") and '"persona"' in head and '"dialogue"' in head:
        return "xpersona"
    if head.lower().startswith("user 1 personas,user 2 personas"):
        return "syntheticpersonachat"
    if stripped.startswith("{") and '"messages": [[{' in head and '"sender"' in head:
        return "chitchat"
    if stripped.startswith("{"):
        try:
            obj = json.loads(head)
        except json.JSONDecodeError:
            obj = None
        if isinstance(obj, dict):
            if "positive_responses" in obj:
                return "dailydialogpp"
            if "turns" in obj:
                return "jsonl"
            if "body" in obj or "title" in obj:
                return "pushshift"
        elif head.strip() == "{":
            return "topicalchat"  # a pretty-printed JSON document
    raise InvalidInput(f"{path}: cannot tell its format; pass --format ({'|'.join(FORMATS)})")


def _first_line(path: Path) -> str:
    reader, raw = open_binary(path)
    try:
        with raw, reader:
            data = b""
            while b"\n" not in data and len(data) < (1 << 20):
                chunk = reader.read(1 << 16)
                if not chunk:
                    break
                data += chunk
    except (EOFError, OSError) as e:
        raise InvalidInput(f"{path}: cannot read it: {e}") from None
    return data.split(b"\n", 1)[0].decode("utf-8", errors="replace")


__all__ = ["FORMATS", "READERS", "WITH_PERSONAS", "CLEANED_BY_DEFAULT", "Problems", "detect_format"]
