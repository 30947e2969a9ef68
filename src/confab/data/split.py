"""Deterministic splits with fixed validation and test sizes, chosen in one streaming pass with O(k) memory.

- random (Mazaré et al.): the examples with the smallest hash of (seed, id) are held out.
- time (PLATO-2): the latest examples are held out; test is the latest, validation the ones just before it.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable

from confab.data.persona import rank_key

PAPER_SIZE = 50_000  # Mazaré et al.: 50k validation and 50k test examples
SMALL_SHARE = 0.05  # inputs too small for 50k each hold out 5% each


def sizes(n: int, valid_size: int | None, test_size: int | None) -> tuple[int, int]:
    """Validation and test sizes for n examples: as asked, or the paper's 50k scaled down to 5% each."""
    auto = min(PAPER_SIZE, round(n * SMALL_SHARE)) if n >= 3 else 0
    valid = auto if valid_size is None else valid_size
    test = auto if test_size is None else test_size
    if valid < 0 or test < 0:
        raise ValueError("--valid-size and --test-size must not be negative")
    if valid + test >= n and n > 0:
        raise ValueError(f"--valid-size {valid} and --test-size {test} leave no training example out of {n}")
    return valid, test


def split_key(mode: str, seed: int, example_id: str, created_utc: int | None) -> tuple:
    """Held-out examples are those with the smallest keys."""
    if mode == "random":
        return (rank_key(seed, "split", example_id), example_id)
    if created_utc is None:
        raise ValueError(f"example {example_id} has no created_utc: a time split needs timestamps")
    return (-created_utc, example_id)


def held_out(keys: Iterable[tuple[tuple, str]], valid: int, test: int) -> dict[str, str]:
    """Map the ids of held-out examples to 'valid' or 'test' from a stream of (key, id)."""
    if valid + test == 0:
        for _ in keys:  # still read every key, so that bad keys are reported whatever the sizes
            pass
        return {}
    chosen = heapq.nsmallest(valid + test, keys)
    return {example_id: ("test" if i < test else "valid") for i, (_, example_id) in enumerate(chosen)}
