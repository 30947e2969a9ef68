from collections import Counter

import pyarrow as pa
import pytest

from confab.data.clean import CleanConfig, Cleaner
from confab.data.records import Message, Problems, message_row
from confab.data.schema import MESSAGE_SCHEMA
from confab.data.sources import READERS
from confab.data.threads import examples, forest, kept_messages


def m(id, parent, text="some text here", author="u", t=0, thread="t3_t", respond=True):
    return Message(id=id, parent_id=parent, thread_id=thread, author=author, text=text, created_utc=t, respond=respond)


def table_of(messages: list[Message]) -> pa.Table:
    return pa.Table.from_pylist([message_row(x) for x in messages], schema=MESSAGE_SCHEMA)


def walked(messages, rules=None):
    table = table_of(messages)
    trees = forest(table, rules)
    return table, trees, [table["id"][r].as_py() for r in trees.rows]


def by_id(table, trees, kind, max_tokens=100, turns=None):
    made, _ = examples(kept_messages(table, trees, max_tokens), trees, kind, turns)
    return {row["id"]: row for row in made.to_pylist()}


def reference_walk(messages: list[Message]) -> list[str]:
    """The depth-first order written the plain way: threads as they first occur, first row of an id, siblings
    by (time, id), a message before its replies; cycles never reached."""
    threads: dict[str, dict[str, Message]] = {}
    for x in messages:
        threads.setdefault(x.thread_id, {}).setdefault(x.id, x)
    out = []
    for ids in threads.values():
        kids: dict[str | None, list[str]] = {}
        for x in ids.values():
            parent = x.parent_id if x.parent_id in ids and x.parent_id != x.id else None
            kids.setdefault(parent, []).append(x.id)
        for v in kids.values():
            v.sort(key=lambda i: (ids[i].created_utc or 0, i))
        stack = list(reversed(kids.get(None, [])))
        while stack:
            i = stack.pop()
            out.append(i)
            stack.extend(reversed(kids.get(i, [])))
    return out


def test_tree_rebuild_pairs_and_paths():
    table, trees, order = walked(
        [m("t1_c", "t1_b", t=3), m("t1_a", "t3_t", t=1), m("t1_b", "t1_a", t=2), m("t1_d", "t1_a", t=4)]
    )
    assert order == ["t1_a", "t1_b", "t1_c", "t1_d"]
    assert [order[p] if p >= 0 else None for p in trees.parent] == [None, "t1_a", "t1_b", "t1_a"]
    pairs, paths = by_id(table, trees, "pairs"), by_id(table, trees, "paths")
    assert pairs["t1_c"]["context_ids"] == ["t1_b"] and paths["t1_c"]["context_ids"] == ["t1_a", "t1_b"]
    assert "t1_a" not in paths  # a root has no context
    assert by_id(table, trees, "paths", turns=1)["t1_c"]["context_ids"] == ["t1_b"]
    assert paths["t1_d"]["context"] == ["some text here"] and paths["t1_d"]["persona"] == []


def test_duplicates_orphans_and_cycles_are_counted_not_fatal():
    _, trees, order = walked(
        [
            m("t1_a", "t3_t"),
            m("t1_a", "t3_t", text="dup"),
            m("t1_o", "t1_gone"),
            m("t1_x", "t1_y"),
            m("t1_y", "t1_x"),
            m("t1_z", "t1_x"),
        ]  # fmt: skip
    )
    assert trees.stats["duplicate_id"] == 1 and trees.stats["roots_without_submission"] == 1
    assert trees.stats["orphan_roots"] == 1 and trees.stats["messages"] == 5
    assert order == ["t1_a", "t1_o"] and trees.drops == Counter(unreachable=3)  # the cycle and what hangs under it


def test_a_message_that_names_itself_as_parent_is_a_root():
    _, trees, order = walked([m("t1_a", "t1_a"), m("t1_b", "t1_a")])
    assert order == ["t1_a", "t1_b"] and list(trees.parent) == [-1, 0]


def test_threads_keep_their_order_and_siblings_sort_by_time_then_id():
    messages = [m("t1_b2", "t3_y", t=5, thread="t3_y"), m("t1_a", "t3_x", t=9, thread="t3_x"),
                m("t1_b1", "t3_y", t=5, thread="t3_y"), m("t1_b0", "t3_y", t=7, thread="t3_y"),
                m("t1_c", "t1_b2", thread="t3_y"), m("t1_n", "t3_x", t=None, thread="t3_x")]  # fmt: skip
    assert walked(messages)[2] == ["t1_b1", "t1_b2", "t1_c", "t1_b0", "t1_n", "t1_a"] == reference_walk(messages)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_order_is_a_depth_first_walk_on_random_forests(seed):
    import random

    rng = random.Random(seed)
    messages = []
    for _ in range(400):
        thread = f"t3_{rng.randrange(12)}"
        earlier = [x.id for x in messages if x.thread_id == thread]
        parent = rng.choice(earlier + [thread, "t1_gone"]) if earlier else thread
        messages.append(m(f"t1_{rng.randrange(380)}", parent, t=rng.randrange(5), thread=thread))
    assert walked(messages)[2] == reference_walk(messages)


def test_removing_a_message_removes_its_subtree():
    messages = [m("t1_a", "t3_t"), m("t1_b", "t1_a", t=1), m("t1_c", "t1_b", t=2), m("t1_d", "t1_c", t=3),
                m("t1_e", "t1_a", t=4), m("t1_f", "t1_c", t=5)]  # fmt: skip
    rules = [None, "url", None, "bot", None, None]  # b removed: c, d (a rule of its own) and f go with it
    _, trees, order = walked(messages, rules)
    assert order == ["t1_a", "t1_e"] and trees.drops == Counter(url=1, descendant_of_removed=3)
    assert trees.stats["kept_messages"] == 2


def test_submission_is_the_root_turn_and_examples_keep_metadata(fixtures):
    read = READERS["pushshift"].read
    messages = list(read(fixtures / "RS_2020-01_fixture.jsonl", "RS", Problems()))
    messages += list(read(fixtures / "RC_2020-01_fixture.jsonl", "RC", Problems()))
    table, trees, order = walked([x for x in messages if x.thread_id == "t3_c"])
    roots = [order[i] for i, p in enumerate(trees.parent) if p < 0]
    assert roots == ["t3_c", "t1_d7"]  # d7's parent is in another month
    ex = by_id(table, trees, "paths")["t1_d4"]
    assert ex["context"][0].startswith("Weekend movie thread") and len(ex["context"]) == 4
    assert ex["context_authors"] == ["tess", "alice", "bob", "alice"]
    assert (ex["id"], ex["response_author"], ex["subreddit"], ex["created_utc"], ex["thread_id"]) == (
        "t1_d4",
        "bob",
        "movies",
        1577836800 + 330,
        "t3_c",
    )
    top = by_id(table, trees, "pairs")["t1_d1"]
    assert top["context"] == ["Weekend movie thread\n\nTell us what you watched and why you liked it."]


def test_long_turns_are_truncated_to_100_tokens():
    table, trees, _ = walked([m("t1_a", "t3_t", text="word " * 150), m("t1_b", "t1_a", text="réply " * 150)])
    ex = by_id(table, trees, "pairs")["t1_b"]
    assert len(ex["context"][0].split()) == 100 and len(ex["response"].split()) == 100


def test_a_message_that_does_not_respond_is_context_only():
    table, trees, _ = walked([m("t1_a", "t3_t"), m("t1_b", "t1_a", respond=False), m("t1_c", "t1_b")])
    assert sorted(by_id(table, trees, "paths")) == ["t1_c"]


def test_cleaned_trees_on_the_fixture(fixtures):
    messages = list(READERS["pushshift"].read(fixtures / "RC_2020-01_fixture.jsonl", "f", Problems()))
    messages = [x for x in messages if x.thread_id == "t3_a"]
    table = table_of(messages)
    trees = forest(table, Cleaner(CleanConfig(max_repeats=100)).first_rules(table))
    # c4 is [deleted]: its reply c5 and c5's reply c5b go with it
    assert trees.drops["deleted"] == 1 and trees.drops["descendant_of_removed"] == 2
    assert {table["id"][r].as_py() for r in trees.rows} == {"t1_c1", "t1_c2", "t1_c3", "t1_c15", "t1_c16"}
    drops = trees.drops
    assert drops["bot"] == drops["url"] == drops["token_count"] == drops["special_string"] == 1
    assert drops["alpha_ratio"] == drops["long_word"] == drops["too_many_chars"] == drops["offensive"] == 1
    assert drops["parent_overlap"] == 1
    assert sum(drops.values()) + len(trees.rows) == len(messages)
