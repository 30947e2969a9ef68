import random

import pyarrow as pa
import pytest

from confab.data.split import (
    RANKS,
    held_candidates,
    held_out,
    held_out_in_parts,
    held_table,
    keyed_table,
    sizes,
    split_key,
)


def test_sizes_scale_down_and_refuse_empty_training():
    assert sizes(2_000_000, None, None) == (50_000, 50_000)
    assert sizes(1000, None, None) == (50, 50)
    assert sizes(1000, 0, 0) == (0, 0)
    with pytest.raises(ValueError, match="leave no training example"):
        sizes(10, 5, 5)


def test_random_split_is_deterministic_disjoint_and_order_free():
    ids = [f"t1_{i}" for i in range(1000)]
    keys = [(split_key("random", 7, i, None), i) for i in ids]
    a = held_out(lambda: keys, 50, 30)
    b = held_out(lambda: list(reversed(keys)), 50, 30)
    assert a == b and len(a) == 80
    assert sum(v == "test" for v in a.values()) == 30
    assert held_out(lambda: [(split_key("random", 8, i, None), i) for i in ids], 50, 30) != a


def test_time_split_holds_out_the_latest():
    rows = [(f"t1_{i}", 1000 + i) for i in range(100)]
    chosen = held_out(lambda: ((split_key("time", 0, i, t), i) for i, t in rows), 10, 5)
    assert {i for i, s in chosen.items() if s == "test"} == {f"t1_{i}" for i in range(95, 100)}
    assert {i for i, s in chosen.items() if s == "valid"} == {f"t1_{i}" for i in range(85, 95)}
    with pytest.raises(ValueError, match="no created_utc"):
        split_key("time", 0, "x", None)


def test_thread_unit_never_cuts_a_thread():
    rows = [(f"e{t}-{j}", f"thread{t}") for t in range(50) for j in range(7)]
    keys = [(split_key("random", 1, i, None, thread, "thread"), i) for i, thread in rows]
    chosen = held_out(lambda: keys, 20, 30)
    by_thread = {}
    for i, thread in rows:
        by_thread.setdefault(thread, set()).add(chosen.get(i, "train"))
    assert all(len(s) == 1 for s in by_thread.values())
    counts = {s: sum(v == s for v in chosen.values()) for s in ("valid", "test")}
    assert counts["test"] >= 30 and counts["valid"] >= 20 and counts["test"] % 7 == 0
    with pytest.raises(ValueError, match="whole threads"):
        split_key("time", 0, "x", 5, "t", "thread")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_held_out_in_parts_is_held_out_of_the_whole(seed):
    """Parts of the examples, each sending only its candidates as columns, hold out what one stream of all the
    per-example keys does (`split_key`, `held_out`): random splits by example and by thread, a
    time split, sizes from none to most, ids beyond ASCII, and keys whose ranks are far from uniform (a first bound
    too low: the parts are asked again)."""
    rng = random.Random(seed)
    rows = [(f"e{t}-{j}" + "é" * (t % 3 == 0), f"thread{t}", 1000 + rng.randrange(10**6))
            for t in range(300) for j in range(rng.randrange(1, 6))]  # fmt: skip
    table = pa.table({"id": [i for i, _, _ in rows], "thread_id": [t for _, t, _ in rows],
                      "created_utc": [c for _, _, c in rows]})  # fmt: skip
    top = [RANKS - 1 - rng.randrange(RANKS // 1000) for _ in rows]  # the top 1/1000 of the ranks only
    ids = table["id"]
    cases = {  # (parts' keys from a table of examples, the stream of keys of the reference)
        "random": (lambda t: keyed_table(t, "random", seed, "example"),
                   [(split_key("random", seed, i, c, t), i) for i, t, c in rows]),
        "random by thread": (lambda t: keyed_table(t, "random", seed, "thread"),
                             [(split_key("random", seed, i, c, t, "thread"), i) for i, t, c in rows]),
        "time": (lambda t: keyed_table(t, "time", seed, "example"),
                 [(split_key("time", seed, i, c), i) for i, t, c in rows]),
        "random, skewed": (lambda t: pa.table({"rank": pa.array(top, pa.uint64()).take(t["row"]),
                                                "group": ids.take(t["row"]), "id": ids.take(t["row"])}),
                           [((r, i, i), i) for r, (i, _, _) in zip(top, rows, strict=True)]),
    }  # fmt: skip
    numbered = table.append_column("row", pa.array(range(len(rows))))
    for case, (keyed, keys) in cases.items():
        cuts = sorted(rng.sample(range(1, len(keys)), 4))
        parts = [keyed(numbered.slice(a, b - a)) for a, b in zip([0, *cuts], [*cuts, len(keys)], strict=True)]
        for valid, test in [(0, 0), (0, 7), (30, 20), (len(keys) // 2, len(keys) // 3)]:
            asked, sent = [], []

            def collect(bound, k=valid + test, parts=parts, asked=asked, sent=sent):
                asked.append(bound)
                candidates = [held_candidates(part, k, bound) for part in parts]
                sent.append(sum(c.num_rows for c in candidates))
                return candidates

            mode = case.split(",")[0].split(" ")[0]
            got = held_out_in_parts(collect, len(keys), valid, test, mode)
            expected = held_table(held_out(lambda keys=keys: keys, valid, test))
            assert sorted(got.to_pylist(), key=str) == sorted(expected.to_pylist(), key=str), (case, valid, test)
            assert (asked[0] is None) == (mode == "time")
            if case == "random" and 0 < valid + test < 100:  # a few more than k sent, once
                assert len(asked) == 1 and valid + test <= sent[0] < len(keys) / 2
            if case == "random, skewed" and 0 < valid + test < 100:
                assert len(asked) > 1 and sent[0] < valid + test


def test_keyed_table_refuses_what_split_key_refuses():
    table = pa.table({"id": ["a", "b"], "thread_id": ["t", None], "created_utc": pa.array([5, None], pa.int64())})
    with pytest.raises(ValueError, match="example b has no created_utc"):
        keyed_table(table, "time", 0, "example")
    with pytest.raises(ValueError, match="whole threads"):
        keyed_table(table, "time", 0, "thread")
    by_thread = keyed_table(table, "random", 3, "thread")  # an example without a thread is its own unit
    assert by_thread["group"].to_pylist() == ["t", "b"]
    assert by_thread["rank"].to_pylist() == [split_key("random", 3, i, None, t, "thread")[0]
                                            for i, t in [("a", "t"), ("b", None)]]  # fmt: skip
