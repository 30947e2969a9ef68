from collections import Counter

from confab.data.records import Message, Problems
from confab.data.sources import READERS
from confab.data.threads import build_thread, make_example, walk


def m(id, parent, text="some text here", author="u", t=0):
    return Message(id=id, parent_id=parent, thread_id="t3_t", author=author, text=text, created_utc=t)


def test_tree_rebuild_pairs_and_paths():
    thread = build_thread(
        [m("t1_c", "t1_b", t=3), m("t1_a", "t3_t", t=1), m("t1_b", "t1_a", t=2), m("t1_d", "t1_a", t=4)]
    )
    assert thread.roots == ["t1_a"] and thread.children == {"t1_a": ["t1_b", "t1_d"], "t1_b": ["t1_c"]}
    walked = walk(thread, None, Counter())
    assert [x.id for x, _ in walked] == ["t1_a", "t1_b", "t1_c", "t1_d"]
    by_id = {x.id: (x, anc) for x, anc in walked}
    pair = make_example(*by_id["t1_c"], "pairs", 100, None)
    path = make_example(*by_id["t1_c"], "paths", 100, None)
    assert pair["context_ids"] == ["t1_b"] and path["context_ids"] == ["t1_a", "t1_b"]
    assert make_example(*by_id["t1_a"], "paths", 100, None) is None  # a root has no context
    assert make_example(*by_id["t1_c"], "paths", 100, 1)["context_ids"] == ["t1_b"]


def test_duplicates_orphans_and_cycles_are_counted_not_fatal():
    thread = build_thread(
        [m("t1_a", "t3_t"), m("t1_a", "t3_t", text="dup"), m("t1_o", "t1_gone"), m("t1_x", "t1_y"), m("t1_y", "t1_x")]
    )
    assert thread.stats == Counter({"duplicate_id": 1, "roots_without_submission": 1, "orphan_roots": 1})
    drops = Counter()
    walked = walk(thread, None, drops)
    assert {x.id for x, _ in walked} == {"t1_a", "t1_o"} and drops["unreachable"] == 2


def test_submission_is_the_root_turn_and_examples_keep_metadata(fixtures):
    read = READERS["pushshift"].read
    messages = list(read(fixtures / "RS_2020-01_fixture.jsonl", "RS", Problems()))
    messages += list(read(fixtures / "RC_2020-01_fixture.jsonl", "RC", Problems()))
    thread = build_thread([x for x in messages if x.thread_id == "t3_c"])
    assert thread.roots == ["t3_c", "t1_d7"]  # d7's parent is in another month
    by_id = {x.id: (x, anc) for x, anc in walk(thread, None, Counter())}
    ex = make_example(*by_id["t1_d4"], "paths", 100, None)
    assert ex["context"][0].startswith("Weekend movie thread") and len(ex["context"]) == 4
    assert ex["context_authors"] == ["tess", "alice", "bob", "alice"]
    assert (ex["id"], ex["response_author"], ex["subreddit"], ex["created_utc"], ex["thread_id"]) == (
        "t1_d4",
        "bob",
        "movies",
        1577836800 + 330,
        "t3_c",
    )
    top = make_example(*by_id["t1_d1"], "pairs", 100, None)
    assert top["context"] == ["Weekend movie thread\n\nTell us what you watched and why you liked it."]


def test_long_turns_are_truncated_to_100_tokens():
    thread = build_thread([m("t1_a", "t3_t", text="word " * 150), m("t1_b", "t1_a", text="reply " * 150)])
    walked = dict((x.id, (x, a)) for x, a in walk(thread, None, Counter()))
    ex = make_example(*walked["t1_b"], "pairs", 100, None)
    assert len(ex["context"][0].split()) == 100 and len(ex["response"].split()) == 100
