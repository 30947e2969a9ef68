"""Comment trees from parent links, cleaned with subtree removal, and the two kinds of examples.

- pairs (Mazaré et al. 3.3): each pair of successive comments; context = the parent, response = the child.
- paths (PLATO-2 appendix A): the whole root-to-node path is the context of the node.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from confab.data.clean import DESCENDANT
from confab.data.records import Message
from confab.text import truncate_tokens


@dataclass
class Thread:
    """One thread's messages as a forest: `roots` in order and each message's kept children."""

    messages: dict[str, Message]
    roots: list[str]
    children: dict[str, list[str]]
    stats: Counter = field(default_factory=Counter)


def build_thread(messages: list[Message]) -> Thread:
    """Link messages by `parent_id`. Duplicate ids keep their first occurrence; a message whose parent is absent
    (not in the dump, or in an earlier month) starts a tree of its own."""
    stats: Counter = Counter()
    by_id: dict[str, Message] = {}
    for m in messages:
        if m.id in by_id:
            stats["duplicate_id"] += 1
        else:
            by_id[m.id] = m
    children: dict[str, list[str]] = defaultdict(list)
    roots = []
    for m in by_id.values():
        if m.parent_id is not None and m.parent_id in by_id and m.parent_id != m.id:
            children[m.parent_id].append(m.id)
        else:
            if m.parent_id == m.thread_id:
                stats["roots_without_submission"] += 1  # a top-level comment; RS_ files give the submission
            elif m.parent_id is not None:
                stats["orphan_roots"] += 1  # the parent is not in the input (another month, or lost)
            roots.append(m.id)
    # Siblings in time order (ids break ties) so output does not depend on input order.
    for kids in children.values():
        kids.sort(key=lambda i: (by_id[i].created_utc or 0, i))
    roots.sort(key=lambda i: (by_id[i].created_utc or 0, i))
    return Thread(by_id, roots, dict(children), stats)


def walk(thread: Thread, rule_of: Callable[[str], str | None] | None,
         drops: Counter) -> list[tuple[Message, list[Message]]]:  # fmt: skip
    """Depth-first (message, ancestors root-first) for every kept message. `rule_of(id)`: the cleaning rule that
    removes a message (`Cleaner.first_rules`; None: no cleaning); a removed message takes its subtree with it,
    those descendants counted as `descendant_of_removed`. Messages caught in a parent cycle are never reached
    from a root and are counted as `unreachable`."""
    out: list[tuple[Message, list[Message]]] = []
    reached = 0
    stack: list[tuple[str, list[Message]]] = [(r, []) for r in reversed(thread.roots)]
    while stack:
        mid, ancestors = stack.pop()
        message = thread.messages[mid]
        reached += 1
        rule = rule_of(mid) if rule_of is not None else None
        if rule is not None:
            drops[rule] += 1
            removed = _count_subtree(thread, mid) - 1
            drops[DESCENDANT] += removed
            reached += removed
            continue
        out.append((message, ancestors))
        path = [*ancestors, message]
        for child in reversed(thread.children.get(mid, [])):
            stack.append((child, path))
    if reached < len(thread.messages):
        drops["unreachable"] += len(thread.messages) - reached
    return out


def _count_subtree(thread: Thread, root: str) -> int:
    count, stack = 0, [root]
    while stack:
        count += 1
        stack.extend(thread.children.get(stack.pop(), []))
    return count


def make_example(
    message: Message,
    ancestors: list[Message],
    kind: str,
    max_tokens: int,
    max_context_turns: int | None,
    truncated: dict[str, str] | None = None,
) -> dict | None:
    """The example whose response is `message`, or None when it has no context or is not a response.

    `truncated` caches each message's truncated text across the examples of a thread: with paths, every
    ancestor appears in the context of all its descendants."""
    if not message.respond or not ancestors:
        return None
    context = ancestors[-1:] if kind == "pairs" else ancestors
    if max_context_turns:
        context = context[-max_context_turns:]
    cache = truncated if truncated is not None else {}

    def short(m: Message) -> str:
        if m.id not in cache:
            cache[m.id] = truncate_tokens(m.text, max_tokens)
        return cache[m.id]

    return {
        "id": message.id,
        "context": [short(m) for m in context],
        "context_ids": [m.id for m in context],
        "context_authors": [m.author for m in context],
        "response": short(message),
        "response_author": message.author,
        "persona": list(message.persona) if message.persona is not None else [],
        "subreddit": message.subreddit,
        "created_utc": message.created_utc,
        "thread_id": message.thread_id,
        "candidates": list(message.candidates),
        "candidate_labels": list(message.candidate_labels),
        "source": message.source,
    }
