"""Deterministic splits with fixed validation and test sizes, chosen in streaming passes with O(k) memory.

- random (Mazaré et al.): the examples with the smallest hash of (seed, id) are held out; with unit "thread",
  whole threads (dialogues) are held out, so no held-out example shares a thread with a training one.
- time (PLATO-2): the latest examples are held out; test is the latest, validation the ones just before it.

`held_out` does it over one stream of keys; `held_out_in_parts` over parts of the examples side by side (the
build's processes, Spark's tasks), each sending only the keys that may be held out.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections import deque
from collections.abc import Callable, Iterable

import pyarrow as pa

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


def keyed_examples(table: pa.Table | pa.RecordBatch, mode: str, seed: int, unit: str) -> list[tuple[tuple, str]]:
    """(split key, id) of each example of a table with the columns id, created_utc and thread_id."""
    columns = (table["id"].to_pylist(), table["created_utc"].to_pylist(), table["thread_id"].to_pylist())
    return [(split_key(mode, seed, i, c, t, unit), i) for i, c, t in zip(*columns, strict=True)]


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


def held_out_in_parts(collect: Callable[[int | None], list[list]], n: int, valid: int, test: int,
                      mode: str) -> dict[str, str]:  # fmt: skip
    """`held_out` of n examples in parts: `collect(bound)` gives each part's `held_candidates` under that bound.
    A random split's ranks are uniform, so each part sends only the keys under a rank that the k smallest almost
    surely fall under (1.1 k + 6 standard deviations expected), about k of them in all, once; in the rare case
    the parts hold fewer than k, they are asked again with a bound twice as high."""
    k = valid + test
    bound = None
    if mode == "random":
        bound = 0 if not k else min(RANKS, int((1.1 * k + 6 * math.sqrt(k) + 10) / n * RANKS))
    while True:
        pairs = list(itertools.chain.from_iterable(collect(bound)))
        if not k:
            return {}
        if len(pairs) >= k or bound is None or bound >= RANKS:
            cuts = boundaries(heapq.nsmallest(k, pairs), valid, test)
            return {example_id: side for key, example_id in pairs if (side := held_side(key, cuts))}
        bound = min(RANKS, 2 * bound)


def held_candidates(keys: Iterable[tuple[tuple, str]], k: int, bound: int | None) -> list[tuple[tuple, str]]:
    """Of one part's (key, id) pairs, those that may be held out: under a random split's rank `bound`, every
    pair whose rank is below it (whole threads come with them); under a time split (bound None), the k smallest.
    Every key is made, so that an example without what the split needs is reported whatever the sizes."""
    if bound is not None:
        return [pair for pair in keys if pair[0][0] < bound]
    if not k:
        deque(keys, maxlen=0)
    return heapq.nsmallest(k, keys)
