"""The Chit-Chat Challenge dataset (BYU PCC lab; the `chitchat-dataset` package, MIT): one JSON object
{conversation_id: {"messages": [[{"text", "timestamp", "sender"}, ...], ...], ...}}.

Each inner list is one turn: consecutive messages of one sender, joined with spaces. Senders are user ids kept
across conversations, so they are the turns' authors and persona extraction gathers each user's sentences from all
their conversations, as it does for Reddit authors. Every turn after the first is a response. The file installed
with the package is `chitchat_dataset/dataset.json`; `confab.data.sources.chitchat.installed()` finds it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

from confab.data.records import Message, Problems
from confab.data.sources.dialogue import Turn, chain
from confab.data.sources.lines import read_json_as
from confab.errors import InvalidInput, MissingInput

FORMAT = "chitchat"


def installed() -> Path:
    """The dataset file of the installed `chitchat-dataset` package."""
    try:
        import chitchat_dataset  # noqa: PLC0415 - an optional data package, imported only when asked for
    except ImportError:
        raise MissingInput("the chitchat-dataset package is not installed: pip install chitchat-dataset") from None
    return Path(chitchat_dataset.__file__).parent / "dataset.json"


def read(
    path: Path, source: str, problems: Problems, on_progress: Callable[[int], None] | None = None
) -> Iterator[Message]:
    data = read_json_as(path, problems, dict, "an object of conversations")
    if data is None:
        return
    for conversation_id, conversation in data.items():
        try:
            turns = _turns(conversation)
        except ValueError as e:
            problems.add("bad_record", str(path), 0, f"conversation {conversation_id}: {e}")
            continue
        yield from chain(source, conversation_id, turns, 0)
    if on_progress is not None:
        on_progress(path.stat().st_size)


def _turns(conversation: object) -> list[Turn]:
    messages = conversation.get("messages") if isinstance(conversation, dict) else None
    if not isinstance(messages, list) or not messages:
        raise InvalidInput("no 'messages' list")
    turns = []
    for i, group in enumerate(messages):
        if not isinstance(group, list) or not group:
            raise InvalidInput(f"turn {i} is not a list of messages")
        if not all(isinstance(m, dict) and isinstance(m.get("text"), str) for m in group):
            raise InvalidInput(f"turn {i}: a message without text")
        senders = {str(m.get("sender")) for m in group}
        if len(senders) != 1:
            raise InvalidInput(f"turn {i} mixes {len(senders)} senders")
        sender = senders.pop()
        text = " ".join(m["text"].strip() for m in group if m["text"].strip())
        if not text:
            continue
        turns.append(Turn(text, sender, respond=bool(turns), created_utc=_seconds(group[0].get("timestamp")),
                          author=f"chitchat:{sender}"))  # fmt: skip
    return turns


def _seconds(timestamp: object) -> int | None:
    if not isinstance(timestamp, str):
        return None
    try:
        return int(datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return None
