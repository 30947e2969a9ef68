"""Reddit comment/reply pairs (leahrnh/reddit_corpus): a JSON array of {docID, qSentId, question, aSentId, answer}.

Every sentence id is a comment; a pair makes the answer a reply to the question, so chains of pairs rebuild
threads. Authors are not given, so these comments carry no persona. Some files start with `[,`, and some are
several arrays and objects written one after another without commas: every object is read, and what cannot be
parsed is reported by file and line and skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from confab.data.records import Message, Problems
from confab.data.sources.lines import iter_json_documents

FORMAT = "redditpairs"


def read(
    path: Path, source: str, problems: Problems, on_progress: Callable[[int], None] | None = None
) -> Iterator[Message]:
    texts: dict[str, str] = {}
    parents: dict[str, str | None] = {}
    community: dict[str, str | None] = {}
    for line, pair in iter_json_documents(path, problems):
        try:
            q, a = f"{source}:{pair['qSentId']}", f"{source}:{pair['aSentId']}"
            question, answer = pair["question"], pair["answer"]
        except KeyError as e:
            problems.add("bad_record", str(path), line, f"a pair without {e}")
            continue
        if not isinstance(question, str) or not isinstance(answer, str):
            problems.add("bad_record", str(path), line, "question and answer must be strings")
            continue
        texts[q], texts[a] = question, answer
        parents.setdefault(q, None)
        parents[a] = q
        community[q] = community[a] = pair.get("corpus")
    for mid, text in texts.items():
        yield Message(
            id=mid,
            parent_id=parents[mid],
            thread_id=_root(mid, parents),
            author=None,
            text=text,
            subreddit=community[mid],
            kind="comment",
            source=source,
        )
    if on_progress is not None:
        on_progress(path.stat().st_size)


def _root(mid: str, parents: dict[str, str | None]) -> str:
    seen = {mid}
    while (parent := parents.get(mid)) is not None and parent not in seen:
        seen.add(parent)
        mid = parent
    return mid
