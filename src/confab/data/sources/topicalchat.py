"""Topical-Chat: one JSON object {conversation_id: {"content": [{"message", "agent", ...}, ...]}}."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from confab.data.records import Message, Problems
from confab.data.sources.dialogue import Turn, chain
from confab.data.sources.lines import read_json_as

FORMAT = "topicalchat"


def read(
    path: Path, source: str, problems: Problems, on_progress: Callable[[int], None] | None = None
) -> Iterator[Message]:
    data = read_json_as(path, problems, dict, "an object of conversations")
    if data is None:
        return
    for conversation_id, conversation in data.items():
        content = conversation.get("content") if isinstance(conversation, dict) else None
        if not isinstance(content, list):
            problems.add("bad_record", str(path), 0, f"conversation {conversation_id}: no 'content' list")
            continue
        turns = []
        for i, turn in enumerate(content):
            if not isinstance(turn, dict) or not isinstance(turn.get("message"), str):
                problems.add("bad_record", str(path), 0, f"conversation {conversation_id}, turn {i}: no message")
                break
            turns.append(Turn(turn["message"], str(turn.get("agent", "AB"[i % 2])), respond=i > 0))
        else:
            yield from chain(source, conversation_id, turns, 0)
    if on_progress is not None:
        on_progress(path.stat().st_size)
