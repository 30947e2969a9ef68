import pytest

from confab.data.split import held_out, sizes, split_key


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
