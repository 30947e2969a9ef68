"""Make a bigger pushshift dump from a real one: N copies whose ids, authors and texts differ, so that threads,
users, examples and distinct sentences grow N times instead of collapsing into duplicates.

Copy 0 is the real dump with its ids renamed (t1_x -> t1_x_r0). In copy r > 0 every content word (a whole
whitespace-delimited chunk of letters, with at most bracket and end punctuation around it, that is no stop word)
is replaced by a word of the same length, the same case pattern and the same dump, through a permutation of the
dump's content words of each length drawn for that copy. Kept as they are: stop words and the I/my persona cues,
offensive words, chunks holding URLs, r/ u/ &amp, digits or apostrophes, `[deleted]`/`[removed]`, bots' names.
So each copy keeps the lengths, characters classes, persona cues and cleaning triggers of the real texts (the
per-rule drop shares of a build stay within a point of the real month's: tests/test_golden_build.py), a reply
that repeats its parent still repeats it (one permutation per copy), and a text repeats across copies only when
it has no content word to change. Texts of stop words alone change their stop words too, through the same
permutations, so that "me too" does not occur once per copy.
"""

from __future__ import annotations

import json
import re
import zlib
from pathlib import Path

import numpy as np
import zstandard
from spacy.lang.en.stop_words import STOP_WORDS

from confab.data.clean import _BOT_NAME, CleanConfig, Cleaner
from confab.data.records import Problems
from confab.data.sources.lines import iter_lines

# a chunk's letters, with only opening brackets or quotes before them and end punctuation after them
_WORD = re.compile(r"(?<!\S)[(\[\"'*]*([A-Za-z]+)(?=[.,!?;:)\]\"*]*(?!\S))")
PERSONA_CUES = {"i", "me", "my", "mine", "myself", "im", "we", "us", "our", "ours"}
UNTOUCHED = {"[deleted]", "[removed]"}


class Vocabulary:
    """The dump's content words by length, and each copy's permutation of them."""

    def __init__(self, bodies: list[str], protected: set[str]):
        words = sorted({m.group(1).lower() for body in bodies for m in _WORD.finditer(body)})
        # "www" before a dot would make a URL of "ewww.."
        content = [w for w in words if len(w) > 1 and w not in STOP_WORDS and w not in protected and "www" not in w]
        self.lengths = sorted({len(w) for w in content})
        by_length = {n: [w for w in content if len(w) == n] for n in self.lengths}
        self.by_length = {n: ws for n, ws in by_length.items() if len(ws) > 1}  # one word has nothing to swap with
        self.offset, self.words = {}, []
        for n, ws in self.by_length.items():
            self.offset[n] = len(self.words)
            self.words.extend(ws)
        self.id = {w: i for i, w in enumerate(self.words)}
        self.protected = protected
        # each word in its three case patterns: lower, Title, UPPER
        self.cased = np.array([self.words, [w.title() for w in self.words], [w.upper() for w in self.words]],
                              dtype=object)  # fmt: skip

    def slot(self, word: str, fallback: bool) -> int | None:
        """The word's position among the content words, a stop word's (fallback) a fixed one of its length;
        None when it stays as it is."""
        lower = word.lower()
        if len(word) < 2 or lower in self.protected or len(word) not in self.by_length:
            return None
        if not (word.islower() or word.istitle() or word.isupper()):
            return None  # mixed case (iPhone): kept
        if lower in self.id:
            return self.id[lower]
        if fallback and lower in STOP_WORDS:
            return self.offset[len(word)] + zlib.crc32(lower.encode()) % len(self.by_length[len(word)])
        return None

    def permutation(self, copy: int) -> np.ndarray:
        """Where each content word goes in `copy` (copy 0: nowhere)."""
        if copy == 0:
            return np.arange(len(self.words))
        rng = np.random.default_rng([copy, 20061])
        return np.concatenate([self.offset[n] + rng.permutation(len(ws)) for n, ws in self.by_length.items()])


def _is_bot(author: str, bots: set[str]) -> bool:
    return author == "AutoModerator" or author.lower() in bots or bool(_BOT_NAME.search(author))


def _case(word: str) -> int:
    return 2 if word.isupper() and len(word) > 1 else 1 if word[0].isupper() else 0


class Template:
    """The dump as JSON lines cut into pieces: constant text, the copy's tag after each id and author, and the
    changeable words, so that a copy is a few array operations and one join."""

    def __init__(self, rows: list[dict], vocabulary: Vocabulary, bots: set[str]):
        self.pieces: list[str] = []
        self.tags: list[int] = []  # pieces that become "_r<copy>"
        slots, cases, at = [], [], []
        for row in rows:
            row = dict(row)
            marks = {}
            for key in ("id", "parent_id", "link_id"):
                if isinstance(row.get(key), str):
                    marks[key] = row[key]
            author = row.get("author")
            # authors renamed, but not "[deleted]" nor bots: renamed, a bot would pass as a person
            if isinstance(author, str) and author != "[deleted]" and not _is_bot(author, bots):
                marks["author"] = author
            body = row.get("body") if isinstance(row.get("body"), str) else None
            # placeholders in the row's JSON where the tags and the body's pieces go
            for key in marks:
                row[key] = f"@@CONFAB-TAG-{key}@@"
            if body is not None:
                row["body"] = "@@CONFAB-BODY@@"
            line = json.dumps(row) + "\n"
            for part in re.split(r"(@@CONFAB-[A-Za-z_-]+@@)", line):
                if part.startswith("@@CONFAB-TAG-"):
                    self.pieces.append(json.dumps(marks[part[13:-2]])[1:-1])
                    self.tags.append(len(self.pieces))
                    self.pieces.append("")
                elif part == "@@CONFAB-BODY@@":
                    self._body(body, vocabulary, slots, cases, at)
                elif part:
                    self.pieces.append(part)
        self.base = np.array(self.pieces, dtype=object)
        self.slots, self.cases, self.at = np.array(slots, np.int64), np.array(cases, np.int64), np.array(at, np.int64)

    def _body(self, body: str, vocabulary: Vocabulary, slots: list, cases: list, at: list) -> None:
        if body.strip() in UNTOUCHED:
            self.pieces.append(json.dumps(body)[1:-1])
            return
        found = [(m, vocabulary.slot(m.group(1), False)) for m in _WORD.finditer(body)]
        if not any(s is not None for _, s in found):  # no content word: its stop words change
            found = [(m, vocabulary.slot(m.group(1), True)) for m, _ in found]
        start = 0
        for m, s in found:
            if s is None:
                continue
            self.pieces.append(json.dumps(body[start : m.start(1)])[1:-1])
            slots.append(s)
            cases.append(_case(m.group(1)))
            at.append(len(self.pieces))
            self.pieces.append(m.group(1))
            start = m.end(1)
        self.pieces.append(json.dumps(body[start:])[1:-1])

    def render(self, copy: int, vocabulary: Vocabulary) -> str:
        pieces = self.base.copy()
        pieces[self.tags] = f"_r{copy}"
        if copy:
            pieces[self.at] = vocabulary.cased[self.cases, vocabulary.permutation(copy)[self.slots]]
        return "".join(pieces)


def replicate(src: Path, dest: Path, copies: int, first: int = 0) -> int:
    """Write copies `first` to `first + copies - 1` of the dump `src` to `dest` (.zst or plain), the texts of
    each but copy 0 changed as the module says; returns the lines written. Files written with consecutive ranges
    are the monthly files of one bigger dump."""
    rows = [json.loads(line) for _, line in iter_lines(src, Problems()) if line.strip()]
    cleaner = Cleaner(CleanConfig())
    protected = PERSONA_CUES | {w for phrase in cleaner.offensive for w in str(phrase).lower().split()}
    vocabulary = Vocabulary([r["body"] for r in rows if isinstance(r.get("body"), str)], protected)
    template = Template(rows, vocabulary, cleaner.bots)
    # a 1 MiB window, so that copies do not compress into back-references of each other and the file has
    # the size of a real dump of that many comments
    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=20)
    with open(dest, "wb") as raw:
        out = zstandard.ZstdCompressor(compression_params=params).stream_writer(raw) if dest.suffix == ".zst" else raw
        for r in range(first, first + copies):
            out.write(template.render(r, vocabulary).encode())
        if out is not raw:
            out.flush(zstandard.FLUSH_FRAME)
    return len(rows) * copies
