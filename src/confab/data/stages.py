"""The pure stages of a dataset build, one partition at a time, as the build (build.py) runs them on its own
processes or as Spark tasks (spark.py). No function here reads or writes files; the build brings the rows and keeps
the results.

- thread_partition   the messages of the threads of one partition -> examples and persona candidate sentences
                     (each addressed to its user partition), a pool of sentences, and counts
- persona_partition  one user partition's candidate sentences -> each user's persona
- split_partition    one user partition's examples and personas -> rows of train/valid/test, counts, tokens
- make_report        every count -> report.json's content
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from confab.data import persona as personas
from confab.data.clean import RULES, Cleaner
from confab.data.records import Problems
from confab.data.schema import EXAMPLE_SCHEMA, SPLITS
from confab.data.shuffle import contiguous
from confab.data.threads import examples, forest, kept_messages
from confab.text.tokenize import ascii_counts, token_counts
from confab.version import __version__

CANDIDATE_SCHEMA = pa.schema(
    [("author", pa.string()), ("message_id", pa.string()), ("sentence", pa.string()), ("key", pa.uint64())]
)
CLASSIFIER_NEGATIVES = 5_000
POOL_SCHEMA = pa.schema([("key", pa.uint64()), ("message_id", pa.string()), ("sentence", pa.string())])


@dataclass
class Plan:
    """What every stage needs to know of a build (picklable: Spark ships it to its executors)."""

    config: object  # the resolved BuildConfig
    parts: int

    @property
    def setup(self) -> str:
        return self.config.persona

    @property
    def extracts(self) -> bool:
        """Whether personas are extracted from the users' messages (not none, not given by the source)."""
        return self.setup not in ("none", "source")


def parts_of(keys: pa.Array | pa.ChunkedArray, parts: int) -> np.ndarray:
    """The partition of each thread or user: polars' hash of the name (a missing one as ""), modulo `parts`.
    Only where rows go depends on it, not what the dataset holds; a build records polars' version (build.py)."""
    hashes = pl.Series(values=keys, dtype=pl.String).fill_null("").hash(_PART_SEED).to_numpy()
    return (hashes % np.uint64(parts)).astype(np.int64)


_PART_SEED = 0x7061727473


def frequent_hashes(hashes: np.ndarray, most: int) -> np.ndarray:
    """The text hashes of one hash partition that occur more than `most` times (the `repeated` rule's set)."""
    values, counts = np.unique(hashes, return_counts=True)
    return values[counts > most]


@dataclass
class ThreadResult:
    examples: pa.Table  # EXAMPLE_SCHEMA, in the order of the threads' walk
    example_parts: np.ndarray  # each example's user partition
    candidates: pa.Table  # CANDIDATE_SCHEMA, in the same order
    candidate_parts: np.ndarray
    pool: list[tuple[int, str, str]]  # (key, message_id, sentence): the partition's pool_size smallest keys
    drops: Counter
    stats: Counter


def thread_partition(table: pa.Table, cleaner: Cleaner | None, plan: Plan) -> ThreadResult:
    """Rebuild the threads of `table` (message rows in reading order), clean them, and make the examples and
    persona candidate sentences, each addressed to the partition of its user."""
    cfg = plan.config
    # the partition's rows in one copy (read, they are in a chunk for each ingest chunk, and every step below that
    # needs a column whole would copy it again)
    table = table.combine_chunks()
    counts = ascii_counts(table["text"])  # for the cleaning rules and the truncation
    rules = cleaner.first_rules(table, counts) if cleaner is not None else None
    trees = forest(table, rules)
    kept = kept_messages(table, trees, cfg.truncate_tokens, counts)  # once, for the examples and the personas
    made, _ = examples(kept, trees, cfg.examples, cfg.max_context_turns)
    # by responder, whose persona the example takes; one without (deleted) by its own id, so that they do not
    # all meet in one partition, which would grow with the input
    example_parts = parts_of(pc.coalesce(made["response_author"], made["id"]), plan.parts)
    candidates = CANDIDATE_SCHEMA.empty_table()
    pool: list[tuple[int, str, str]] = []
    if plan.extracts:
        # kept comments whose author's persona they may feed, in the order of the walk
        writers = kept.filter(pc.and_(pc.is_valid(kept["author"]), pc.not_equal(kept["kind"], "submission")))
        texts = contiguous(writers["text"])
        setup = "random-from-user" if plan.setup == "random-from-dataset" else plan.setup
        rows, sentences = personas.candidates_of(texts, setup)
        authors = writers["author"].take(pa.array(rows)).to_pylist()
        keys = [personas.rank_key(cfg.seed, a, s) for a, s in zip(authors, sentences, strict=True)]
        columns = {"author": authors, "message_id": writers["id"].take(pa.array(rows)), "sentence": sentences,
                   "key": pa.array(keys, pa.uint64())}  # fmt: skip
        candidates = pa.table(columns, schema=CANDIDATE_SCHEMA)
        if plan.setup in ("rules+classifier", "random-from-dataset"):  # a sample of all sentences of the length
            if setup != "random-from-user":
                rows, sentences = personas.candidates_of(texts, "random-from-user")
            ids = writers["id"].take(pa.array(rows)).to_pylist()
            entries = ((personas.rank_key(cfg.seed, "pool", m, s), m, s) for m, s in zip(ids, sentences, strict=True))
            pool = heapq.nsmallest(cfg.pool_size, entries)
    candidate_parts = parts_of(candidates["author"], plan.parts)
    return ThreadResult(made, example_parts, candidates, candidate_parts, pool, trees.drops, trees.stats)


def merge_pools(pools: Iterable[Iterable[tuple[int, str, str]]], held: pa.Table, size: int) -> list:
    """The `size` smallest pool entries of all partitions whose message is not held out."""
    out = set(held["id"].to_pylist())
    return heapq.nsmallest(size, (entry for pool in pools for entry in pool if entry[1] not in out))


def train_classifier(config, pool: list[tuple[int, str, str]]) -> personas.PersonaClassifier:
    """The persona classifier of rules+classifier: the persona sentences against the first of the pool."""
    positives = personas.positive_sentences(config.persona_sentences)
    negatives = [s for _, _, s in pool[:CLASSIFIER_NEGATIVES]]
    return personas.PersonaClassifier.train(positives, negatives, config.classifier_threshold, config.seed)


def persona_partition(candidates: pa.Table, held: pa.Table, classifier, pool, tagger, plan: Plan) -> pa.Table:
    """Each user's persona (author, sentences, message_ids) from the candidate sentences (CANDIDATE_SCHEMA) of
    their training messages: a user's distinct sentences in the order of their smallest key (the first of equal
    keys), then the first `max_persona + SLACK` of them, those the tags pass, or a sample of the pool."""
    cfg = plan.config
    keep = cfg.max_persona + personas.SLACK
    if held.num_rows:  # validation and test responses never feed a persona: the held-out ids among this
        # partition's messages, found by a set of the partition's ids (not of every held-out one, up to 100,000)
        ids = candidates["message_id"]
        here = contiguous(held["id"].filter(pc.is_in(held["id"], value_set=pc.unique(ids))))
        candidates = candidates.filter(pc.invert(pc.is_in(ids, value_set=here)))
    frame = pl.from_arrow(candidates).with_row_index("row")  # the row: the first of equal keys, as read
    ranked = (frame.sort("author", "sentence", "key", "row").unique(["author", "sentence"], keep="first")
              .sort("author", "key", "message_id", "sentence"))  # fmt: skip
    if plan.setup == "random-from-user":
        chosen = ranked.group_by("author", maintain_order=True).head(keep)
        chosen = chosen.group_by("author", maintain_order=True).agg(
            pl.col("sentence").alias("sentences"), pl.col("message_id").alias("message_ids")
        )
        return chosen.to_arrow().cast(PERSONA_SCHEMA)
    lists = ranked.group_by("author", maintain_order=True).agg("key", "message_id", "sentence")
    by_author = {a: list(zip(k, m, t, strict=True)) for a, k, m, t in lists.iter_rows()}
    if plan.setup == "random-from-dataset":
        chosen = {}
        for author in by_author:
            if pool:
                picks = {personas.rank_key(cfg.seed, author, str(j)) % len(pool) for j in range(keep)}
                chosen[author] = [(pool[i][2], pool[i][1]) for i in sorted(picks)]
    else:
        chosen = personas.choose_by_tags(by_author, tagger, classifier, keep)
    authors = sorted(a for a, c in chosen.items() if c)
    columns = {"author": authors, "sentences": [[s for s, _ in chosen[a]] for a in authors],
               "message_ids": [[m for _, m in chosen[a]] for a in authors]}  # fmt: skip
    return pa.table(columns, schema=PERSONA_SCHEMA)


PERSONA_SCHEMA = pa.schema(
    [("author", pa.string()), ("sentences", pa.list_(pa.string())), ("message_ids", pa.list_(pa.string()))]
)


def split_partition(examples: pa.Table, people: pa.Table, held: pa.Table,
                    plan: Plan) -> tuple[dict[str, pa.Table], Counter, dict]:  # fmt: skip
    """The examples of each split (sorted by id, personas attached), their counts and the training tokens.

    An example's persona: the first `max_persona` sentences of its responder's that neither come from the
    response nor occur in it (a join of examples and persona sentences, then a filter)."""
    cfg = plan.config
    frame = pl.from_arrow(examples).sort("id").with_row_index("row")
    frame = frame.join(pl.from_arrow(held), on="id", how="left", maintain_order="left")
    frame = frame.with_columns(pl.col("split").fill_null("train"))
    if plan.setup == "none":
        frame = frame.with_columns(persona=pl.lit([], dtype=pl.List(pl.String)))
    elif plan.extracts:
        sentences = pl.from_arrow(people).explode("sentences", "message_ids").with_row_index("position")
        pairs = frame.select("row", "id", "response", "response_author").join(
            sentences, left_on="response_author", right_on="author"
        )
        pairs = pairs.filter(
            (pl.col("message_ids") != pl.col("id"))
            & ~pl.col("response").str.contains(pl.col("sentences"), literal=True)
        )
        chosen = (pairs.sort("row", "position").group_by("row", maintain_order=True).head(cfg.max_persona)
                  .group_by("row").agg(pl.col("sentences").alias("persona")))  # fmt: skip
        frame = frame.drop("persona").join(chosen, on="row", how="left", maintain_order="left")
        frame = frame.with_columns(pl.col("persona").fill_null(pl.lit([], dtype=pl.List(pl.String))))
    sizes = frame.select("split", n=pl.col("persona").list.len().fill_null(0))
    counts = sizes.group_by("split").agg(
        examples=pl.len(), with_persona=(pl.col("n") > 0).sum(), persona_sentences=pl.col("n").sum()
    )
    stats: Counter = Counter()
    for split, n, with_persona, sentences in counts.iter_rows():
        stats[f"{split}_examples"] += n
        if with_persona:
            stats[f"{split}_with_persona"] += with_persona
            stats[f"{split}_persona_sentences"] += sentences
    stats["users_with_persona"] = int(pc.sum(pc.greater(pc.list_value_length(people["sentences"]), 0)).as_py() or 0)
    columns = [f.name for f in EXAMPLE_SCHEMA]
    out = {s: frame.filter(pl.col("split") == s).select(columns).to_arrow().cast(EXAMPLE_SCHEMA) for s in SPLITS}
    return out, stats, token_counts(out["train"]["response"])


def make_report(plan: Plan, inputs: list, kinds: Counter, problems: Problems, threads: Counter, drops: Counter,
                split: dict, written: Counter, dictionary, pruned: int, classifier: dict | None,
                seconds: dict, engine: str = "local") -> dict:  # fmt: skip
    cfg = plan.config
    train = written["train_examples"]
    with_persona = written["train_with_persona"]
    return {
        "confab_version": __version__,
        "command": "confab data build",
        "inputs": [{"path": str(p), "bytes": p.stat().st_size} for p in inputs],
        "format": cfg.format,
        "partitions": plan.parts,
        "read": {"records": dict(kinds), "malformed": problems.to_dict()},
        "threads": dict(threads),
        "cleaning": {
            "enabled": cfg.clean.enabled,
            "rules_on": [r for r in RULES if r not in cfg.clean.skip] if cfg.clean.enabled else [],
            "dropped": dict(sorted(drops.items())),
            "dropped_total": sum(drops.values()),
        },
        "examples": {"kind": cfg.examples, "total": split["n"], **{s: written[f"{s}_examples"] for s in SPLITS}},
        "split": {
            "mode": cfg.split,
            "unit": cfg.split_unit,
            "seed": cfg.seed,
            "valid_size": split["valid"],
            "test_size": split["test"],
        },  # fmt: skip
        "persona": {
            "setup": plan.setup,
            "max_sentences": cfg.max_persona,
            "users_with_persona": written["users_with_persona"],
            "train_examples_with_persona": with_persona,
            "train_share_with_persona": round(with_persona / train, 4) if train else 0.0,
            "mean_persona_sentences": round(written["train_persona_sentences"] / with_persona, 2)
            if with_persona
            else 0.0,
            **(
                {"classifier": {"threshold": classifier["threshold"], **(classifier["metrics"] or {})}}
                if classifier
                else {}
            ),  # fmt: skip
        },
        "dictionary": {"size": len(dictionary), "pruned_tokens": pruned},
        "engine": engine,
        "seconds": seconds,
    }
