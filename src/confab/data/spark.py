"""The dataset build on Apache Spark: the stages of the local engine (stages.py), run in Spark tasks.

    confab data build RC_2015-*.zst --engine spark --master local[8] --out data/2015    (or spark://host:7077)

- ingest     one task per input file; pushshift .zst files are read in Python inside the task (they need a 2 GiB
             zstd window, which Spark's own codec cannot be told about)
- repeats    text hashes counted with reduceByKey; the few repeated too often are broadcast
- threads    messages grouped by thread partition (the local engine's partitions), as Arrow tables of a block's
             rows each, rebuilt, cleaned and turned into examples and persona candidate sentences, in the order the
             files were read
- split      each task sends the keys that may be held out (split.held_out_in_parts); the held-out ids broadcast
- personas   candidate sentences grouped by user partition (Arrow tables, one per thread partition); a persona
             per user
- write      examples cogrouped with personas by user partition, written by the tasks as
             OUT/<split>/part-<q>.parquet (OUT must be a filesystem every executor sees)

Same inputs and config give the same files as the local engine. Spark retries a failed task itself; a build
whose driver is killed starts over.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa

from confab.data import persona as personas
from confab.data.build import Build, finish_build, message_tables, worker_environment, write_parts
from confab.data.clean import Cleaner, text_hashes
from confab.data.records import Problems
from confab.data.schema import EXAMPLE_SCHEMA, MESSAGE_SCHEMA
from confab.data.shuffle import by_partition
from confab.data.sources import READERS
from confab.data.split import held_candidates, held_out_in_parts, keyed_table, sizes
from confab.data.stages import (
    CANDIDATE_SCHEMA,
    PERSONA_SCHEMA,
    frequent_hashes,
    merge_pools,
    parts_of,
    persona_partition,
    split_partition,
    thread_partition,
    train_classifier,
)
from confab.errors import SetupError
from confab.text import TokenCounter

STEPS = ("ingest", "repeats", "threads", "split", "personas", "write")


def spark_session(master: str):
    """A Spark session for `master`; its Python workers run this interpreter."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as e:
        raise SetupError("--engine spark needs PySpark: pip install 'confab[spark]'") from e
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise SetupError("--engine spark needs Java (17 or newer): install a JRE or set JAVA_HOME")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder.master(master).appName("confab data build").config("spark.ui.enabled", "false")
    for name, value in worker_environment(1).items():  # Spark runs a task per core: one polars thread each
        builder = builder.config(f"spark.executorEnv.{name}", value)
    spark = builder.config("spark.ui.showConsoleProgress", "false").getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


class SparkBuild(Build):
    """A Build whose stages run as Spark jobs; the folder checks, config and report are the local engine's."""

    def __init__(self, config, out, master: str = "local[2]", progress=None):
        super().__init__(config, out, progress)
        self.master = master

    def run(self) -> dict:
        if self._already_built():
            return json.loads((self.out / "report.json").read_text())
        self._claim_folder()
        spark = spark_session(self.master)
        try:
            return self._run(spark)
        finally:
            spark.stop()

    def _run(self, spark) -> dict:
        from pyspark import StorageLevel

        sc = spark.sparkContext
        plan, cfg, parts = self.plan, self.config, self.parts
        task = self.progress(f"spark stages ({self.master})", len(STEPS))
        clock = time.perf_counter()

        def done(step: int) -> None:
            nonlocal clock
            self.timings[STEPS[step]] = round(time.perf_counter() - clock, 3)
            clock = time.perf_counter()
            task(step + 1)

        # 1. ingest: ((file, sequence), message row) in reading order, and each file's counts
        named = zip(self.inputs, self.sources, strict=True)
        files = [(i, str(path), source, cfg.format, parts) for i, (path, source) in enumerate(named)]
        raw = sc.parallelize(files, len(files)).flatMap(_read_file).persist(StorageLevel.MEMORY_AND_DISK)
        read_stats = raw.filter(lambda r: r[0] == "stats").map(lambda r: r[1]).collect()
        pieces = raw.filter(lambda r: r[0] == "messages").map(lambda r: r[1])  # (partition, (order, table))
        done(0)

        # 2. messages repeated too often (PLATO-2 cleaning)
        frequent: set[int] = set()
        if cfg.clean.enabled and "repeated" not in cfg.clean.skip:
            most = cfg.clean.max_repeats
            hashes = raw.filter(lambda r: r[0] == "hashes").map(lambda r: r[1])  # (partition, array of hashes)
            found = hashes.groupByKey(parts).map(lambda kv: frequent_hashes(np.concatenate(list(kv[1])), most))
            found = found.collect()
            frequent = {int(h) for array in found for h in array}
        frequent_b = sc.broadcast(frequent)
        done(1)

        # 3. threads, one local partition per group, rows in the order the local engine reads them; the messages
        # travel as Arrow tables, a block's rows of one partition each, not row by row
        threaded = (pieces.groupByKey(parts).flatMap(lambda kv: _threads(kv[0], kv[1], frequent_b.value, plan))
                    .persist(StorageLevel.MEMORY_AND_DISK))  # fmt: skip
        thread_stats = threaded.filter(lambda r: r[0] == "stats").map(lambda r: r[2]).collect()
        pools = threaded.filter(lambda r: r[0] == "pool").map(lambda r: r[2]).collect()
        examples = threaded.filter(lambda r: r[0] == "example").map(lambda r: (r[1], r[2]))  # (q, Arrow IPC)
        done(2)

        # 4. split
        mode, seed, unit = cfg.split, cfg.seed, cfg.split_unit
        # the count from the tables' lengths, then each task sends only the keys that may be held out
        # (split.held_out_in_parts): the keys, a Python hash each, made once
        n = examples.map(lambda qe: _table(qe[1]).num_rows).sum()
        valid, test = sizes(n, cfg.valid_size, cfg.test_size)
        k = valid + test

        def collect(bound: int | None) -> list[pa.Table]:
            return examples.map(lambda qe: held_candidates(keyed_table(_table(qe[1]), mode, seed, unit), k, bound)
                                ).collect()  # fmt: skip

        held = held_out_in_parts(collect, n, valid, test, mode)
        held_b = sc.broadcast(held)
        done(3)

        # 5. personas
        personas_by_q = sc.parallelize([])
        classifier_dict = None
        if self.extracts:
            merged = merge_pools(pools, held, cfg.pool_size)
            classifier = train_classifier(cfg, merged) if self.setup == "rules+classifier" else None
            classifier_dict = classifier.to_dict() if classifier else None
            pool = merged if self.setup == "random-from-dataset" else None
            candidates = threaded.filter(lambda r: r[0] == "candidate").map(lambda r: (r[1], r[2]))
            personas_by_q = candidates.groupByKey(parts).map(
                lambda kv: (kv[0], [_personas(kv[1], held_b.value, classifier, pool, plan)])
            )
        done(4)

        # 6. write: each task writes its user partition's Parquet files
        out = str(self.out)
        for split in ("train", "valid", "test"):
            (self.out / split).mkdir(parents=True, exist_ok=True)
        # a full join: a user partition may hold personas and no example, and its users still count
        written_parts = (examples.groupByKey(parts).fullOuterJoin(personas_by_q)
                         .map(lambda kv: _write(kv[0], kv[1][0] or [], kv[1][1] or [], held_b.value, plan, out))
                         .collect())  # fmt: skip
        done(5)

        kinds: Counter = Counter()
        problems = Problems()
        for stats in read_stats:
            kinds.update(stats["kinds"])
            problems.merge(Problems.from_dict(stats["problems"]))
        drops, threads = Counter(), Counter()
        for stats in thread_stats:
            drops.update(stats["drops"])
            threads.update(stats["stats"])
        written, counter = Counter(), TokenCounter()
        for stats, tokens in written_parts:
            written.update(stats)
            counter.update(Counter(tokens))
        report = finish_build(self.out, plan, self.inputs, kinds, problems, threads, drops,
                              {"n": n, "valid": valid, "test": test}, written, counter, classifier_dict,
                              self.timings, f"spark {self.master}")  # fmt: skip
        shutil.rmtree(self.work, ignore_errors=True)
        return report


# -- task functions (module level, so Spark can ship them to the executors) ----------------------------------


def _read_file(file: tuple[int, str, str, str, int]):
    """A file's messages as ("messages", (partition, ((file, block), table))), its text hashes a block at a time,
    and its counts."""
    i, path, source, fmt, parts = file
    problems, kinds = Problems(), Counter()
    for block, table in enumerate(message_tables(READERS[fmt], Path(path), source, problems, None)):
        kinds.update(table["kind"].to_pylist())
        h = text_hashes(table["text"])
        for q, rows in by_partition(h % np.uint64(parts), pa.table({"h": h})):  # counted by hash partition
            yield "hashes", (q, rows["h"].to_numpy())
        for q, rows in by_partition(parts_of(table["thread_id"], parts), table):
            yield "messages", (q, ((i, block), _ipc(rows)))
    yield "stats", {"kinds": kinds, "problems": problems.to_dict()}


def _ipc(table: pa.Table) -> bytes:
    """A table as Arrow IPC bytes: only its own rows (a pickled slice would carry its parent's whole buffers)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _table(data: bytes) -> pa.Table:
    return pa.ipc.open_stream(data).read_all()


def _threads(p: int, ordered_tables, frequent: set[int], plan):
    cleaner = Cleaner(plan.config.clean, frequent) if plan.config.clean.enabled else None
    tables = [_table(t) for _, t in sorted(ordered_tables, key=lambda m: m[0])]  # the local engine's reading order
    out = []
    table = pa.concat_tables(tables) if tables else MESSAGE_SCHEMA.empty_table()
    result = thread_partition(table, cleaner, plan)
    for q, rows in by_partition(result.example_parts, result.examples):  # a table per user partition
        out.append(("example", q, _ipc(rows)))
    for q, rows in by_partition(result.candidate_parts, result.candidates):
        out.append(("candidate", q, (p, _ipc(rows))))  # p: the local engine reads them in that order
    out.append(("pool", 0, result.pool))
    out.append(("stats", 0, {"drops": result.drops, "stats": result.stats}))
    return out


def _personas(tables, held, classifier, pool, plan) -> bytes:
    """A user partition's personas (Arrow IPC) from its candidate tables (Arrow IPC, in the threads' order)."""
    tagger = _tagger() if plan.setup in ("rules", "rules+classifier") else None
    candidates = _concat([t for _, t in sorted(tables, key=lambda pt: pt[0])], CANDIDATE_SCHEMA)
    return _ipc(persona_partition(candidates, held, classifier, pool, tagger, plan))


_TAGGERS: list = []


def _tagger():
    """One spaCy pipeline per Python worker (Spark reuses its workers), not one per task, in a helper process: the
    worker itself imports no spaCy (nor the PyTorch that spaCy's thinc imports when it is installed)."""
    if not _TAGGERS:
        _TAGGERS.append(personas.PosFilter(helpers=1))
    return _TAGGERS[0]


def _concat(tables, schema: pa.Schema) -> pa.Table:
    return pa.concat_tables([_table(t) for t in tables]) if tables else schema.empty_table()


def _write(q: int, example_tables, persona_tables, held, plan, out: str):
    examples, people = _concat(example_tables, EXAMPLE_SCHEMA), _concat(persona_tables, PERSONA_SCHEMA)
    tables, stats, tokens = split_partition(examples, people, held, plan)
    write_parts(Path(out), q, tables)
    return stats, tokens
