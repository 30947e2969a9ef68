"""Comment trees from parent links, cleaned with subtree removal, and the two kinds of examples, over whole tables.

- pairs (Mazaré et al. 3.3): each pair of successive comments; context = the parent, response = the child.
- paths (PLATO-2 appendix A): the whole root-to-node path is the context of the node.

A partition holds many thousands of small trees, so they are rebuilt with array operations over all of them at
once rather than a Python walk per thread: parents by a join, roots, depths and "an ancestor was removed" by
pointer jumping (log₂ of the depth passes over the arrays), and the depth-first order from subtree sizes, one
pass per tree level. numpy, not polars, since these are gathers by index, which polars has no cheaper form of.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from confab.data.clean import DESCENDANT
from confab.data.schema import EXAMPLE_SCHEMA
from confab.data.shuffle import contiguous
from confab.text.tokenize import truncate_column


@dataclass
class Forest:
    """The kept messages of a message table as trees.

    `rows` are the table rows of the kept messages in depth-first order: threads in the order they first occur,
    roots and siblings by time (ids break ties), each message before its replies. `parent[i]` is the position in
    `rows` of the parent of message i (-1: a root)."""

    rows: np.ndarray
    parent: np.ndarray
    stats: Counter
    drops: Counter


def forest(table: pa.Table, rules: list[str | None] | None = None) -> Forest:
    """Link the messages of `table` by `parent_id` within their thread and remove what `rules` removes.

    A duplicate id keeps its first row; a message whose parent is absent (not in the dump, or in an earlier
    month) or is itself starts a tree of its own. `rules[row]`: the cleaning rule that removes a row
    (`Cleaner.first_rules`; None: kept; the first row of an id decides); a removed message takes its subtree
    with it, those descendants counted as `descendant_of_removed`. Messages caught in a parent cycle are never
    reached from a root and are counted as `unreachable`."""
    frame = pl.from_arrow(table.select(["id", "parent_id", "thread_id", "created_utc"])).with_row_index("row")
    threads = pc.dictionary_encode(contiguous(table["thread_id"])).indices  # in order of first occurrence
    frame = frame.with_columns(thread=pl.Series(threads.to_numpy(zero_copy_only=False), dtype=pl.Int64))
    first = frame.unique(["thread_id", "id"], keep="first", maintain_order=True).with_row_index("u")
    linked = first.join(
        first.select("thread_id", pl.col("id").alias("parent_id"), pl.col("u").alias("parent_u")),
        on=["thread_id", "parent_id"],
        how="left",
        maintain_order="left",
    ).with_columns(parent_u=pl.when(pl.col("parent_id") == pl.col("id")).then(None).otherwise(pl.col("parent_u")))
    n = linked.height
    parent = linked["parent_u"].fill_null(-1).cast(pl.Int64).to_numpy()
    root = parent < 0
    under_thread = (linked["parent_id"] == linked["thread_id"]).fill_null(False).to_numpy()
    rows = linked["row"].cast(pl.Int64).to_numpy()
    ruled = np.zeros(n, bool) if rules is None else np.array([rules[r] is not None for r in rows], bool)
    reachable, blocked, depth = _reach(parent, ruled)
    first_removed = reachable & ruled & ~blocked
    kept = np.flatnonzero(reachable & ~ruled & ~blocked)
    stats = Counter(
        duplicate_id=table.num_rows - n,
        roots_without_submission=int((root & under_thread).sum()),  # top-level comments: RS_ files give the post
        orphan_roots=int((root & ~under_thread & linked["parent_id"].is_not_null().to_numpy()).sum()),
        threads=int(linked["thread"].n_unique()) if n else 0,
        messages=n,
        kept_messages=len(kept),
    )
    drops = Counter(rules[r] for r in rows[first_removed]) if rules is not None else Counter()
    if first_removed.any():  # counted (maybe 0) whenever a rule fired, as a walk over the trees counts it
        drops[DESCENDANT] += int((reachable & blocked).sum())
    if not reachable.all():
        drops["unreachable"] += int((~reachable).sum())
    order = kept[_depth_first(linked[kept], parent[kept], kept, depth[kept])]
    position = np.full(n, -1, np.int64)
    position[order] = np.arange(len(order))
    parent_position = np.where(parent[order] >= 0, position[np.maximum(parent[order], 0)], -1)
    return Forest(rows[order], parent_position, +stats, drops)


def _reach(parent: np.ndarray, ruled: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which nodes a root reaches (not in or under a parent cycle), which have a ruled proper ancestor, and the
    depth of the reached ones: pointer jumping, each pass doubling how far every node looks up."""
    n = len(parent)
    has_parent = parent >= 0
    up = np.where(has_parent, parent, np.arange(n))
    blocked = np.zeros(n, bool)
    blocked[has_parent] = ruled[parent[has_parent]]
    depth = has_parent.astype(np.int64)  # the distance from each node to `up`
    for _ in range(max(1, int(n).bit_length())):
        blocked |= blocked[up]
        depth += depth[up]
        nxt = up[up]
        if np.array_equal(nxt, up):
            break
        up = nxt
    return parent[up] < 0, blocked, depth


def _depth_first(nodes: pl.DataFrame, parent: np.ndarray, ids: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """The depth-first order of a forest (positions into `nodes`): threads in order, siblings by (time, id).
    `parent` holds the parents' ids (from `ids`, -1 for a root); every parent is among the nodes."""
    n = len(ids)
    if n == 0:
        return np.zeros(0, np.int64)
    local = np.where(parent >= 0, np.searchsorted(ids, np.maximum(parent, 0)), -1)
    siblings = (
        nodes.select("thread", "id", pl.col("created_utc").fill_null(0))
        .with_columns(parent=pl.Series(local), i=pl.arange(0, n, dtype=pl.Int64))
        .sort(["thread", "parent", "created_utc", "id"])
    )
    by_sibling = siblings["i"].to_numpy()
    levels = np.argsort(depth, kind="stable")
    cuts = np.flatnonzero(np.diff(depth[levels])) + 1
    level_nodes = np.split(levels, cuts)
    size = np.ones(n, np.int64)
    for nodes_at in reversed(level_nodes[1:]):  # subtree sizes, deepest level first
        np.add.at(size, local[nodes_at], size[nodes_at])
    # the subtree sizes of the siblings before each node, in its group (a parent's replies, or a thread's roots)
    thread, parent_of = siblings["thread"].to_numpy(), siblings["parent"].to_numpy()
    ordered = size[by_sibling]
    before = np.cumsum(ordered) - ordered
    change = (thread[1:] != thread[:-1]) | (parent_of[1:] != parent_of[:-1])
    starts = np.r_[0, np.flatnonzero(change) + 1]
    before -= np.repeat(before[starts], np.diff(np.r_[starts, n]))
    earlier = np.empty(n, np.int64)
    earlier[by_sibling] = before
    start = np.empty(n, np.int64)
    start[level_nodes[0]] = earlier[level_nodes[0]]
    for nodes_at in level_nodes[1:]:
        start[nodes_at] = start[local[nodes_at]] + 1 + earlier[nodes_at]
    return np.lexsort((start, nodes["thread"].to_numpy()))


def kept_messages(table: pa.Table, trees: Forest, max_tokens: int, counts: dict | None = None) -> pa.Table:
    """The rows of `table` the forest keeps, in its order, their texts cut after `max_tokens` tokens
    (`counts`: `ascii_counts` of the table's texts, when the caller has them)."""
    kept = table.take(pa.array(trees.rows))
    counts = {k: v[trees.rows] for k, v in counts.items()} if counts is not None else None
    texts = truncate_column(contiguous(kept["text"]), max_tokens, counts)
    return kept.set_column(kept.schema.get_field_index("text"), "text", texts)


def examples(kept: pa.Table, trees: Forest, kind: str, max_context_turns: int | None) -> tuple[pa.Table, np.ndarray]:
    """The examples of a forest (EXAMPLE_SCHEMA) from its `kept_messages`: one per kept message that responds and
    has a context, in the forest's order, and their positions in `trees.rows`."""
    turns = 1 if kind == "pairs" else max_context_turns or len(trees.rows)
    texts = contiguous(kept["text"])
    respond = np.asarray(pc.fill_null(kept["respond"], True))
    responses = np.flatnonzero(respond & (trees.parent >= 0))
    # the context: the nearest `turns` ancestors of each response, oldest first
    who, level, ancestor = [], [], []
    current, alive = trees.parent[responses], np.arange(len(responses))
    for j in range(turns):
        who.append(alive)
        level.append(np.full(len(alive), j))
        ancestor.append(current)
        up = trees.parent[current]
        alive, current = alive[up >= 0], up[up >= 0]
        if not len(alive):
            break
    who, level, ancestor = (np.concatenate(a) if a else np.zeros(0, np.int64) for a in (who, level, ancestor))
    flat = ancestor[np.lexsort((-level, who))]
    offsets = pa.array(np.r_[0, np.cumsum(np.bincount(who, minlength=len(responses)))].astype(np.int32))
    index = pa.array(flat)

    def context(column: pa.Array) -> pa.Array:
        return pa.ListArray.from_arrays(offsets, column.take(index))

    at = pa.array(responses)
    picked = kept.take(at)
    columns = {
        "id": picked["id"],
        "context": context(texts),
        "context_ids": context(contiguous(kept["id"])),
        "context_authors": context(contiguous(kept["author"])),
        "response": texts.take(at),
        "response_author": picked["author"],
        "persona": _empty_lists(picked["persona"]),
        "subreddit": picked["subreddit"],
        "created_utc": picked["created_utc"],
        "thread_id": picked["thread_id"],
        "candidates": _empty_lists(picked["candidates"]),
        "candidate_labels": _empty_lists(picked["candidate_labels"]),
        "source": picked["source"],
    }
    return pa.table(columns, schema=EXAMPLE_SCHEMA), responses


def _empty_lists(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A list column with nulls made empty lists (an example's persona and candidates are never null)."""
    if column.null_count == 0:
        return column
    return pc.if_else(pc.is_null(column), pa.scalar([], column.type), column)
