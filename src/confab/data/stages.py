"""The pure stages of a dataset build, one partition at a time: what the local engine (build.py) and the Spark
engine (spark.py) both run. No function here reads or writes files; the engines bring the rows and keep the
results.

- thread_partition   the messages of the threads of one partition -> examples and persona candidate sentences
                     (each addressed to its user partition), a pool of sentences, and counts
- persona_partition  one user partition's candidate sentences -> each user's persona
- split_partition    one user partition's examples and personas -> rows of train/valid/test, counts, tokens
- make_report        every count -> report.json's content
"""

from __future__ import annotations

import functools
import heapq
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from confab import __version__
from confab.data import persona as personas
from confab.data.clean import RULES, Cleaner
from confab.data.records import Problems
from confab.data.schema import SPLITS
from confab.data.threads import examples, forest
from confab.text import TokenCounter, tokenize
from confab.text.tokenize import truncate_column

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


@functools.lru_cache(maxsize=1 << 16)  # a user's examples and sentences all ask for the same partition
def part(key: str | None, parts: int) -> int:
    """The partition of a thread or a user."""
    return personas.rank_key(0, "partition", key or "") % parts


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
    rules = cleaner.first_rules(table) if cleaner is not None else None
    trees = forest(table, rules)
    made, _ = examples(table, trees, cfg.examples, cfg.truncate_tokens, cfg.max_context_turns)
    example_parts = np.array([part(a, plan.parts) for a in made["response_author"].to_pylist()], np.int64)
    candidates = CANDIDATE_SCHEMA.empty_table()
    pool: list[tuple[int, str, str]] = []
    if plan.extracts:
        # kept comments whose author's persona they may feed, in the order of the walk
        kept = table.take(pa.array(trees.rows)).select(["id", "author", "kind", "text"])
        writers = kept.filter(pc.and_(pc.is_valid(kept["author"]), pc.not_equal(kept["kind"], "submission")))
        texts = truncate_column(writers["text"].combine_chunks(), cfg.truncate_tokens)
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
    candidate_parts = np.array([part(a, plan.parts) for a in candidates["author"].to_pylist()], np.int64)
    return ThreadResult(made, example_parts, candidates, candidate_parts, pool, trees.drops, trees.stats)


def merge_pools(pools: Iterable[Iterable[tuple[int, str, str]]], held: dict[str, str], size: int) -> list:
    """The `size` smallest pool entries of all partitions whose message is not held out."""
    return heapq.nsmallest(size, (entry for pool in pools for entry in pool if entry[1] not in held))


def train_classifier(config, pool: list[tuple[int, str, str]]) -> personas.PersonaClassifier:
    """The persona classifier of rules+classifier: the persona sentences against the first of the pool."""
    positives = personas.positive_sentences(config.persona_sentences)
    negatives = [s for _, _, s in pool[:CLASSIFIER_NEGATIVES]]
    return personas.PersonaClassifier.train(positives, negatives, config.classifier_threshold, config.seed)


def persona_partition(candidate_rows: Iterable[dict], held: dict[str, str], classifier, pool, tagger,
                      plan: Plan) -> pa.Table:  # fmt: skip
    """Each user's persona (author, sentences, message_ids) from the candidate sentences of their training
    messages."""
    cfg = plan.config
    keep = cfg.max_persona + personas.SLACK
    by_author: dict[str, dict[str, tuple[int, str]]] = defaultdict(dict)
    for row in candidate_rows:
        if row["message_id"] in held:
            continue  # validation and test responses never feed a persona
        seen = by_author[row["author"]]
        if row["sentence"] not in seen or row["key"] < seen[row["sentence"]][0]:
            seen[row["sentence"]] = (row["key"], row["message_id"])
    chosen: dict[str, list[tuple[str, str]]] = {}
    ranked = {a: sorted((k, m, s) for s, (k, m) in sents.items()) for a, sents in by_author.items()}
    if plan.setup == "random-from-user":
        chosen = {a: [(s, m) for _, m, s in r[:keep]] for a, r in ranked.items()}
    elif plan.setup == "random-from-dataset":
        for author in ranked:
            if pool:
                picks = {personas.rank_key(cfg.seed, author, str(j)) % len(pool) for j in range(keep)}
                chosen[author] = [(pool[i][2], pool[i][1]) for i in sorted(picks)]
    else:
        chosen = personas.choose_by_tags(ranked, tagger, classifier, keep)
    authors = sorted(a for a, c in chosen.items() if c)
    return pa.table(
        {
            "author": authors,
            "sentences": [[s for s, _ in chosen[a]] for a in authors],
            "message_ids": [[m for _, m in chosen[a]] for a in authors],
        }
    )


def split_partition(example_rows: Iterable[dict], persona_rows: Iterable[dict], held: dict[str, str],
                    plan: Plan) -> tuple[dict[str, list[dict]], Counter, dict]:  # fmt: skip
    """The rows of each split (sorted by id, personas attached), their counts and the training tokens."""
    cfg = plan.config
    by_author = {r["author"]: list(zip(r["sentences"], r["message_ids"], strict=True)) for r in persona_rows}
    out: dict[str, list[dict]] = {s: [] for s in SPLITS}
    counter = TokenCounter()
    stats: Counter = Counter()
    for row in sorted(example_rows, key=lambda r: r["id"]):
        split = held.get(row["id"], "train")
        if plan.setup == "none":
            row["persona"] = []
        elif plan.extracts:
            sentences = by_author.get(row["response_author"], [])
            row["persona"] = personas.persona_for_example(sentences, row["id"], row["response"], cfg.max_persona)
        out[split].append(row)
        stats[f"{split}_examples"] += 1
        if row["persona"]:
            stats[f"{split}_with_persona"] += 1
            stats[f"{split}_persona_sentences"] += len(row["persona"])
        if split == "train":
            counter.update(tokenize(row["response"]))
    stats["users_with_persona"] = sum(1 for v in by_author.values() if v)
    return out, stats, counter.counts


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
