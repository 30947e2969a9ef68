"""Deterministic splits with fixed validation and test sizes, chosen in streaming passes with O(k) memory.

- random (Mazaré et al.): the examples with the smallest hash of (seed, id) are held out; with unit "thread",
  whole threads (dialogues) are held out, so no held-out example shares a thread with a training one.
- time (PLATO-2): the latest examples are held out; test is the latest, validation the ones just before it.

`held_out` does it over one stream of keys; `held_out_in_parts` over parts of the examples side by side (the
build's processes, Spark's tasks), each sending only the keys that may be held out.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from confab.data.persona import rank_key
from confab.errors import InvalidInput

PAPER_SIZE = 50_000  # Mazaré et al.: 50k validation and 50k test examples
SMALL_SHARE = 0.05  # inputs too small for 50k each hold out 5% each
UNITS = ("example", "thread")


def sizes(n: int, valid_size: int | None, test_size: int | None) -> tuple[int, int]:
    """Validation and test sizes for n examples: as asked, or the paper's 50k scaled down to 5% each."""
    auto = min(PAPER_SIZE, round(n * SMALL_SHARE)) if n >= 3 else 0
    valid = auto if valid_size is None else valid_size
    test = auto if test_size is None else test_size
    if valid < 0 or test < 0:
        raise InvalidInput("--valid-size and --test-size must not be negative")
    if valid + test >= n and n > 0:
        raise InvalidInput(f"--valid-size {valid} and --test-size {test} leave no training example out of {n}")
    return valid, test


def split_key(
    mode: str, seed: int, example_id: str, created_utc: int | None, thread_id: str | None = None, unit: str = "example"
) -> tuple:
    """Held-out examples are those with the smallest keys; key[:2] names the unit that is held out whole."""
    if mode == "random":
        group = thread_id if unit == "thread" and thread_id is not None else example_id
        return (rank_key(seed, "split", group), group, example_id)
    if unit != "example":
        raise InvalidInput("a time split holds out examples, not whole threads")
    if created_utc is None:
        raise InvalidInput(f"example {example_id} has no created_utc: a time split needs timestamps")
    return (-created_utc, example_id, example_id)


def held_out(keys: Callable[[], Iterable[tuple[tuple, str]]], valid: int, test: int) -> dict[str, str]:
    """Map the ids of held-out examples to 'valid' or 'test', from a stream of (key, id) that `keys()` restarts.

    The first pass finds the k = valid + test smallest keys; the second holds out every example of each unit
    (key[:2]) up to the boundaries, so a thread is never cut in two and sizes may exceed the request."""
    if valid + test == 0:
        for _ in keys():  # still read every key, so that bad keys are reported whatever the sizes
            pass
        return {}
    cuts = boundaries(heapq.nsmallest(valid + test, keys()), valid, test)
    return {example_id: side for key, example_id in keys() if (side := held_side(key, cuts))}


def boundaries(chosen: list[tuple[tuple, str]], valid: int, test: int) -> tuple:
    """(test boundary, validation boundary) units from the k smallest (key, id) pairs, sorted."""
    test_cut = chosen[min(test, len(chosen)) - 1][0][:2] if test and chosen else None
    valid_cut = chosen[-1][0][:2] if valid and chosen else None
    return test_cut, valid_cut


def held_side(key: tuple, cuts: tuple) -> str | None:
    """'test', 'valid' or None (training) for an example's split key."""
    test_cut, valid_cut = cuts
    unit = key[:2]
    if test_cut is not None and unit <= test_cut:
        return "test"
    if valid_cut is not None and unit <= valid_cut:
        return "valid"
    return None


RANKS = 2**64  # rank_key's values


def held_out_in_parts(collect: Callable[[int | None], list[pa.Table]], n: int, valid: int, test: int,
                      mode: str) -> pa.Table:  # fmt: skip
    """`held_out` of n examples in parts, as a table of (id, split): `collect(bound)` gives each part's
    `held_candidates` under that bound. A random split's ranks are uniform, so each part sends only the keys under a
    rank that the k smallest almost surely fall under (1.1 k + 6 standard deviations expected), about k of them in
    all, once; in the rare case the parts hold fewer than k, they are asked again with a bound twice as high. Keys
    stay in columns: a Python tuple for each of up to 100,000 held-out examples left the build's process about 50 MB
    larger for good."""
    k = valid + test
    bound = None
    if mode == "random":
        bound = 0 if not k else min(RANKS, int((1.1 * k + 6 * math.sqrt(k) + 10) / n * RANKS))
    while True:
        parts = [part for part in collect(bound) if part.num_rows]
        if not k:
            return HELD_SCHEMA.empty_table()
        if sum(part.num_rows for part in parts) >= k or bound is None or bound >= RANKS:
            break
        bound = min(RANKS, 2 * bound)
    if not parts:
        return HELD_SCHEMA.empty_table()
    keys = pa.concat_tables(parts)
    chosen = smallest(keys, k)
    side = pa.nulls(keys.num_rows, pa.string())
    # the validation cut (the k-th key) first, then the test cut (the test-th) over it: test wins where both hold
    cuts = ([("valid", k)] if valid else []) + ([("test", test)] if test else [])
    for name, size in cuts:
        last = min(size, chosen.num_rows) - 1
        rank, group = chosen["rank"][last], chosen["group"][last]
        under = pc.or_(pc.less(keys["rank"], rank),
                       pc.and_(pc.equal(keys["rank"], rank), pc.less_equal(keys["group"], group)))  # fmt: skip
        side = pc.if_else(under, name, side)
    held = pa.table({"id": keys["id"], "split": side}, schema=HELD_SCHEMA)
    return held.filter(pc.is_valid(held["split"]))


def keyed_table(table: pa.Table | pa.RecordBatch, mode: str, seed: int, unit: str) -> pa.Table:
    """`split_key` of each example of a table with the columns id, created_utc and thread_id, as columns (rank,
    group, id): a random split's ranks a Python hash each, a time split's the negated times."""
    ids = table.column("id")
    if mode == "random":
        groups = pc.coalesce(table.column("thread_id"), ids) if unit == "thread" else ids
        ranks = np.fromiter((rank_key(seed, "split", g) for g in groups.to_pylist()), np.uint64, len(groups))
        return pa.table({"rank": ranks, "group": groups, "id": ids})
    if unit != "example":
        raise InvalidInput("a time split holds out examples, not whole threads")
    created = table.column("created_utc")
    if created.null_count:
        missing = ids[pc.index(pc.is_null(created), True).as_py()]
        raise InvalidInput(f"example {missing} has no created_utc: a time split needs timestamps")
    return pa.table({"rank": pc.negate(created.cast(pa.int64())), "group": ids, "id": ids})


def held_candidates(keys: pa.Table, k: int, bound: int | None) -> pa.Table:
    """Of one part's `keyed_table`, the rows that may be held out: under a random split's rank `bound`, every row
    whose rank is below it (whole threads come with them); under a time split (bound None), the k smallest."""
    if bound is None:
        return smallest(keys, k)
    return keys if bound >= RANKS else keys.filter(pc.less(keys["rank"], pa.scalar(bound, pa.uint64())))


def smallest(keys: pa.Table, k: int) -> pa.Table:
    """The k rows of smallest (rank, group, id), in that order (strings compared by their UTF-8 bytes, which
    orders them as Python does)."""
    order = pc.sort_indices(keys, [("rank", "ascending"), ("group", "ascending"), ("id", "ascending")])
    return keys.take(order[:k])


# the held-out examples as the partition stages take them: a table, which an engine can map from a file or
# broadcast, not a dict copied into every task
HELD_SCHEMA = pa.schema([("id", pa.string()), ("split", pa.string())])


def held_table(held: dict[str, str]) -> pa.Table:
    return pa.table({"id": list(held), "split": list(held.values())}, schema=HELD_SCHEMA)
