"""The dataset build: raw files -> messages -> cleaned threads -> examples -> split -> personas -> Parquet.

The local engine streams with bounded memory by partitioning, like a map-reduce shuffle on disk (shuffle.py):

1. ingest    read every file once; messages go to P partitions by thread, text hashes to P by hash
2. repeats   count text hashes per partition; the few messages repeated too often form a small set
3. threads   per thread partition: rebuild trees, clean, make examples and persona candidate sentences,
             both sent on to P partitions by the responder / writer (the user)
4. split     the examples that may be held out, sent by each partition side by side, give the held-out ids
5. personas  per user partition: choose each user's persona from their training comments only
6. write     per user partition: join examples with personas, write train/valid/test Parquet shards
7. finish    dictionary, report, config

P grows with the input so that one partition fits in memory. Every unit of work is written to a temporary
name and renamed when complete, so a build killed at any point resumes where it stopped and produces the
same files as an uninterrupted one. The stage functions it calls (sources, clean, threads, persona, split)
are pure functions over records and do no I/O.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import json
import math
import multiprocessing
import os
import shutil
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, ThreadPoolExecutor, as_completed, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from confab.config import load_config, save_config, to_dict
from confab.data import persona as personas
from confab.data.clean import CleanConfig, Cleaner, text_hashes
from confab.data.records import Problems, message_row
from confab.data.report import render_report
from confab.data.schema import EXAMPLE_SCHEMA, MESSAGE_SCHEMA, SPLITS
from confab.data.shuffle import ShuffleWriter, all_batches, partition_table, read_table, write_table
from confab.data.sources import CLEANED_BY_DEFAULT, FORMATS, READERS, WITH_PERSONAS, detect_format
from confab.data.sources.lines import EXPANSION, iter_blocks
from confab.data.split import held_candidates, held_out_in_parts, keyed_table, sizes
from confab.data.stages import (
    CANDIDATE_SCHEMA,
    PERSONA_SCHEMA,
    POOL_SCHEMA,
    Plan,
    frequent_hashes,
    make_report,
    merge_pools,
    parts_of,
    persona_partition,
    split_partition,
    thread_partition,
    train_classifier,
)
from confab.errors import InvalidInput, MissingInput, OutputExists, SetupError
from confab.io import atomic_path, atomic_write_json, atomic_write_text
from confab.progress import no_progress
from confab.text import Dictionary, TokenCounter

MAX_PARTITIONS = 4096


@dataclass
class BuildConfig:
    inputs: list[str]
    format: str = "auto"  # one of confab.data.sources.FORMATS, or auto: inferred from the first file
    examples: Literal["pairs", "paths"] = "pairs"
    persona: str = "auto"  # one of persona.SETUPS, or auto: source where the files carry personas, else rules
    max_persona: int = 100
    split: Literal["random", "time"] = "random"
    split_unit: Literal["example", "thread"] = "example"  # thread: hold out whole threads (dialogues)
    valid_size: int | None = None  # None: 50,000, or 5% of the examples when that is fewer
    test_size: int | None = None
    seed: int = 0
    truncate_tokens: int = 100
    max_context_turns: int | None = None
    clean: CleanConfig = field(default_factory=CleanConfig)
    dictionary_size: int = 250_000
    persona_sentences: str | None = None  # positives of the persona classifier; None: the shipped list
    classifier_threshold: float = 0.5
    pool_size: int = 100_000  # sentences sampled for random-from-dataset and the classifier's negatives
    partition_mb: float = 128.0  # uncompressed input per partition; bounds the memory of a build

    def resolved(self) -> BuildConfig:
        """The config with every `auto` replaced by what it means for these inputs."""
        if not self.inputs:
            raise InvalidInput("no input files")
        fmt = detect_format(Path(self.inputs[0])) if self.format == "auto" else self.format
        if fmt not in FORMATS:
            raise InvalidInput(f"unknown format '{fmt}'; formats: {', '.join(FORMATS)}")
        setup = self.persona
        if setup == "auto":
            setup = "source" if fmt in WITH_PERSONAS else "rules"
        if setup not in personas.SETUPS:
            raise InvalidInput(f"unknown persona setup '{setup}'; setups: {', '.join(personas.SETUPS)}")
        if setup == "source" and fmt not in WITH_PERSONAS:
            raise InvalidInput(f"--persona source: {fmt} files carry no personas")
        if self.max_persona < 1:
            raise InvalidInput("--max-persona must be at least 1")
        enabled = fmt in CLEANED_BY_DEFAULT if self.clean.enabled is None else self.clean.enabled
        return replace(self, format=fmt, persona=setup, clean=replace(self.clean, enabled=enabled))


class Build:
    """A build in the folder `out`. `processes` (default 0: one per core this process may use) parse an input's
    chunks and build the partitions of the threads, personas and write stages side by side, and tag
    part-of-speech; the output does not depend on them. They are started fresh (spawned: polars' threads do not
    survive a fork), so a script that builds on more than one must start from `if __name__ == "__main__":`, as
    multiprocessing requires."""

    def __init__(self, config: BuildConfig, out: str | Path, progress: Callable | None = None,
                 processes: int = 0):  # fmt: skip
        for path in config.inputs:
            if not Path(path).is_file():
                raise MissingInput(f"input not found: {path}")
        self.config = config.resolved()
        self.out = Path(out)
        self.work = self.out / ".work"
        self.progress = progress or no_progress
        self.inputs = [Path(p) for p in self.config.inputs]
        self.sources = _source_names(self.inputs)
        self.parts = _partitions(self.inputs, self.config.partition_mb)
        self.plan = Plan(self.config, self.parts)
        self.setup, self.extracts = self.plan.setup, self.plan.extracts
        self.processes = processes if processes > 0 else _cores()
        self.engine = "local"  # as the report names it
        self.timings: dict[str, float] = {}
        self.tagging: dict | None = None  # the tagger's counts and seconds in this attempt (report.json)
        self._tagger: personas.PosFilter | None = None
        self._processes: ProcessPoolExecutor | None = None

    def __getstate__(self) -> dict:  # what a partition task in another process needs: no bars, no processes
        return {**self.__dict__, "progress": no_progress, "_tagger": None, "_processes": None}

    def _executor(self) -> ProcessPoolExecutor:
        """The build's processes, started once (fresh, spawned: polars' threads do not survive a fork)."""
        if self._processes is None:
            spawn = multiprocessing.get_context("spawn")
            pool = ProcessPoolExecutor(self.processes, spawn, initializer=_die_with_parent, initargs=(os.getpid(),))
            # start them all now, one per task, in the environment they read as they start
            settings = worker_environment(max(1, _cores() // self.processes))
            before = {name: os.environ.get(name) for name in settings}
            os.environ.update(settings)
            try:
                for started in [pool.submit(time.sleep, 0.1) for _ in range(self.processes)]:
                    _result(started)
            finally:
                for name, value in before.items():
                    if value is None:
                        del os.environ[name]
            self._processes = pool
        return self._processes

    # -- driver ---------------------------------------------------------------------------------------------

    def run(self) -> dict:
        """Build the dataset, resuming a previous attempt; returns the report."""
        if self._already_built():
            return json.loads((self.out / "report.json").read_text())
        self._claim_folder()
        # Arrow's buffers from glibc's malloc while the build runs, which `release_memory` can give back (Arrow's
        # default, mimalloc, kept what the split and personas steps had freed: 14 and 19 MB at 10M comments)
        pool = pa.default_memory_pool()
        pa.set_memory_pool(pa.system_memory_pool())
        try:
            for name, step in [
                ("ingest", self.ingest),
                ("repeats", self.count_repeats),
                ("threads", self.threads),
                ("split", self.split),
                ("personas", self.personas),
                ("write", self.write),
            ]:
                start = time.perf_counter()
                if name == "threads":
                    self._start_tagger()  # its helper processes load spaCy while the threads are rebuilt
                step()
                release_memory()
                self.timings[name] = round(time.perf_counter() - start, 3)
            if self._tagger is not None:  # how much of the personas step was spaCy's
                t = self._tagger
                self.tagging = {"sentences_asked": t.tagged, "sentences_tagged": t.tagged_new,
                                "seconds": round(t.seconds, 3)}  # fmt: skip
        finally:
            pa.set_memory_pool(pool)
            if self._tagger is not None:
                self._tagger.close()
            if self._processes is not None:
                self._processes.shutdown(cancel_futures=True)
                self._processes = None
        return self.finish()

    def _start_tagger(self) -> None:
        """The part-of-speech tagger, with a process per core the build has, when personas are still to tag."""
        todo = any(not (self.work / "personas" / f"q{q:05d}.arrow").exists() for q in range(self.parts))
        if todo and self.setup in personas.TAGGED and self._tagger is None:
            self._tagger = personas.PosFilter(helpers=self.processes if self.processes > 1 else 0)

    def _already_built(self) -> bool:
        if not (self.out / "report.json").exists():
            return False
        self._check_config()
        return True

    def _claim_folder(self) -> None:
        if (self.out / "config.json").exists():
            self._check_config()
        elif self.out.exists() and any(p.name != ".work" for p in self.out.iterdir()):
            raise OutputExists(f"{self.out} exists and is not a confab dataset; choose another --out")
        self.work.mkdir(parents=True, exist_ok=True)
        save_config(self.config, self.out / "config.json")
        # A resumed build must read the same bytes, and hash texts as it did (polars' hash may change between
        # its versions): refuse when an input or polars changed since the first attempt.
        fingerprint = [[str(p), p.stat().st_size, p.stat().st_mtime_ns] for p in self.inputs] + [pl.__version__]
        fingerprint.append(WORK_LAYOUT)
        recorded = self.work / "inputs.json"
        if recorded.exists() and json.loads(recorded.read_text()) != fingerprint:
            raise OutputExists(
                f"the inputs, the polars version or confab's work files changed since the build in {self.out} was "
                f"interrupted; remove {self.work} to start over"
            )
        atomic_write_json(recorded, fingerprint)

    def _check_config(self) -> None:
        previous = load_config(BuildConfig, self.out / "config.json")
        if to_dict(previous) != to_dict(self.config):
            raise OutputExists(f"{self.out} holds a build with another config; remove it or choose another --out")

    # -- 1. ingest ------------------------------------------------------------------------------------------

    def ingest(self) -> None:
        total = sum(p.stat().st_size for p in self.inputs)
        task = self.progress("ingest (bytes read)", total)
        done_bytes = 0
        for i, path in enumerate(self.inputs):
            self._ingest_file(i, lambda b, base=done_bytes: task(base + b))
            done_bytes += path.stat().st_size
            task(done_bytes)

    def _ingest_file(self, i: int, on_progress: Callable | None = None) -> None:
        """Input i's messages and text hashes sent to their partitions, in the chunk files of .work/ingest/f<i>
        (unless they are there already), with its counts and problems in stats.json."""
        final = self.work / "ingest" / f"f{i:05d}"
        if final.exists():
            return
        reader, path, source = READERS[self.config.format], self.inputs[i], self.sources[i]
        tmp = self.work / "ingest" / f".tmp-f{i:05d}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        problems = Problems()
        if hasattr(reader, "read_block"):  # blocks of lines parsed on the build's processes
            results = self._ingest_blocks(tmp, path, source, problems, on_progress)
        else:
            tables = message_tables(reader, path, source, problems, on_progress)
            results = [(write_chunk(tmp, 0, tables, self.parts), Problems().to_dict())]
        counts, samples = Counter(), list(problems.samples)
        for kinds, found in results:
            counts.update(kinds)
            problems.counts.update(found["by_kind"])
            samples.extend(found["samples"])
        # the first samples by line, whichever process found them
        problems.samples = sorted(samples, key=lambda x: x["line"])[: problems.max_samples]
        atomic_write_json(tmp / "stats.json", {"kinds": counts, "problems": problems.to_dict()})
        tmp.rename(final)

    def _ingest_blocks(self, tmp: Path, path: Path, source: str, problems: Problems, on_progress) -> list:
        """A block reader's file read a chunk of blocks at a time, each chunk parsed and written by a process of
        the build as tmp/c<n>-*.arrow; [(kinds, problems)] in the chunks' order. At most one chunk per process
        and one more wait in memory."""
        chunks = _chunks(iter_blocks(path, problems, on_progress), INGEST_CHUNK_BYTES)
        args = (tmp, self.config.format, path, source, self.parts)
        head = list(itertools.islice(chunks, 2))
        chunks = itertools.chain(head, chunks)
        if self.processes <= 1 or len(head) < 2:  # one chunk: not worth starting processes for
            return [ingest_chunk(*args, n, blocks) for n, blocks in enumerate(chunks)]
        results: dict[int, tuple] = {}
        running: dict = {}
        pool = self._executor()
        for n, blocks in enumerate(chunks):
            running[pool.submit(ingest_chunk, *args, n, blocks)] = n
            while len(running) > self.processes:
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                results.update((running.pop(f), _result(f)) for f in finished)
        results.update((n, _result(f)) for f, n in running.items())
        return [results[n] for n in sorted(results)]

    # -- 2. repeated messages -------------------------------------------------------------------------------

    def count_repeats(self) -> None:
        target = self.work / "frequent.npy"
        if target.exists():
            return
        frequent = np.zeros(0, dtype=np.uint64)
        if self.config.clean.enabled and "repeated" not in self.config.clean.skip:
            task = self.progress("repeated messages (partitions)", self.parts)
            paths, most = self._ingested("hashes.arrow"), self.config.clean.max_repeats
            # the hash partitions side by side (at 10M comments, 77: 5.8 s on one core)
            found = self._map(_frequent_in, [(p, paths, most) for p in range(self.parts)], task)
            frequent = np.concatenate(found) if found else frequent
        with atomic_path(target) as tmp, open(tmp, "wb") as f:
            np.save(f, frequent)

    # -- 3. threads -----------------------------------------------------------------------------------------

    def threads(self) -> None:
        todo = [p for p in range(self.parts) if not (self.work / "threads" / f"p{p:05d}").exists()]
        self._each_partition("threads", todo, "_thread_partition")

    def _thread_partition(self, p: int) -> None:
        tmp = self.work / "threads" / f".tmp-p{p:05d}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        frequent = set(np.load(self.work / "frequent.npy").tolist())
        cleaner = Cleaner(self.config.clean, frequent) if self.config.clean.enabled else None
        table = partition_table(self._ingested("messages.arrow"), p, INGESTED_SCHEMA)
        result = thread_partition(table, cleaner, self.plan)
        with ShuffleWriter(tmp / "examples.arrow", EXAMPLE_SCHEMA) as examples:
            examples.add_table(result.example_parts, result.examples)
        with ShuffleWriter(tmp / "candidates.arrow", CANDIDATE_SCHEMA) as candidates:
            candidates.add_table(result.candidate_parts, result.candidates)
        pool = result.pool
        columns = {
            "key": [k for k, _, _ in pool],
            "message_id": [m for _, m, _ in pool],
            "sentence": [x for *_, x in pool],
        }
        write_table(tmp / "pool.arrow", pa.table(columns, schema=POOL_SCHEMA))
        atomic_write_json(tmp / "stats.json", {"drops": result.drops, "stats": result.stats})
        tmp.rename(self.work / "threads" / f"p{p:05d}")

    # -- 4. split -------------------------------------------------------------------------------------------

    def split(self) -> None:
        target = self.work / "split.json"
        if target.exists() and (self.work / "held_out.arrow").exists():
            return
        cfg = self.config
        examples = self._thread_files("examples.arrow")
        n = sum(batch.num_rows for batch in all_batches(examples, ["id"]))
        valid, test = sizes(n, cfg.valid_size, cfg.test_size)
        task = self.progress("split (partitions)", self.parts)
        how = (valid + test, cfg.split, cfg.seed, cfg.split_unit)

        def collect(bound: int | None) -> list[pa.Table]:  # on the build's processes: a Python hash per example
            return self._map(_held_candidates, [(path, bound, *how) for path in examples], task)

        held = held_out_in_parts(collect, n, valid, test, cfg.split)
        # the ids in a table each partition task maps from disk; split.json, written last, says the step is done
        write_table(self.work / "held_out.arrow", held)
        atomic_write_json(target, {"n": n, "valid": valid, "test": test})

    def _held_out(self) -> pa.Table:
        return read_table(self.work / "held_out.arrow")

    # -- 5. personas ----------------------------------------------------------------------------------------

    def personas(self) -> None:
        if not self.extracts:
            return
        classifier = self._classifier(self._held_out()) if self.setup == "rules+classifier" else None
        pool = self._pool(self._held_out()) if self.setup == "random-from-dataset" else None
        self._start_tagger()
        todo = [q for q in range(self.parts) if not (self.work / "personas" / f"q{q:05d}.arrow").exists()]
        if self._tagger is None:
            self._each_partition("personas", todo, "_persona_partition", (classifier, pool))
            return
        # the tagger's helper processes tag on every core: here, two threads take turns at it, one preparing or
        # writing a partition while the helpers tag the other's sentences (alone, they waited 1.4 s of 55 at 1M)
        threads = 2 if self.processes > 1 else 1
        self._each_partition("personas", todo, "_persona_partition", (classifier, pool), 1, threads)

    def _persona_partition(self, q: int, classifier, pool) -> None:
        candidates = partition_table(self._thread_files("candidates.arrow"), q, CANDIDATE_SCHEMA)
        table = persona_partition(candidates, self._held_out(), classifier, pool, self._tagger, self.plan)
        write_table(self.work / "personas" / f"q{q:05d}.arrow", table)
        if self._tagger is not None:  # on the build's own process: what the partition freed, given back
            release_memory()

    def _pool(self, held: pa.Table) -> list[tuple[int, str, str]]:
        pools = ([(r["key"], r["message_id"], r["sentence"]) for r in batch.to_pylist()]
                 for batch in all_batches(self._thread_files("pool.arrow")))  # fmt: skip
        return merge_pools(pools, held, self.config.pool_size)

    def _classifier(self, held: pa.Table) -> personas.PersonaClassifier:
        target = self.work / "classifier.json"
        if target.exists():
            return personas.PersonaClassifier.from_dict(json.loads(target.read_text()))
        classifier = train_classifier(self.config, self._pool(held))
        atomic_write_json(target, classifier.to_dict())
        return classifier

    # -- 6. write -------------------------------------------------------------------------------------------

    def write(self) -> None:
        for split in SPLITS:
            (self.out / split).mkdir(parents=True, exist_ok=True)
        todo = [q for q in range(self.parts) if not (self.work / "written" / f"q{q:05d}.json").exists()]
        self._each_partition("write", todo, "_write_partition")

    def _write_partition(self, q: int) -> None:
        marker = self.work / "written" / f"q{q:05d}.json"
        examples = partition_table(self._thread_files("examples.arrow"), q, EXAMPLE_SCHEMA)
        people = PERSONA_SCHEMA.empty_table()
        if self.extracts:
            people = read_table(self.work / "personas" / f"q{q:05d}.arrow")
        tables, stats, tokens = split_partition(examples, people, self._held_out(), self.plan)
        write_parts(self.out, q, tables)
        atomic_write_json(marker, {"stats": stats, "tokens": tokens})

    # -- 7. finish ------------------------------------------------------------------------------------------

    def finish(self) -> dict:
        problems = Problems()
        kinds: Counter = Counter()
        for i in range(len(self.inputs)):
            stats = json.loads((self.work / "ingest" / f"f{i:05d}" / "stats.json").read_text())
            kinds.update(stats["kinds"])
            problems.merge(Problems.from_dict(stats["problems"]))
        drops: Counter = Counter()
        threads: Counter = Counter()
        for f in self._thread_files("stats.json"):
            stats = json.loads(f.read_text())
            drops.update(stats["drops"])
            threads.update(stats["stats"])
        written: Counter = Counter()
        counter = TokenCounter()
        for q in range(self.parts):
            marker = json.loads((self.work / "written" / f"q{q:05d}.json").read_text())
            written.update(marker["stats"])
            counter.update(Counter(marker["tokens"]))
        split = json.loads((self.work / "split.json").read_text())
        path = self.work / "classifier.json"
        classifier = json.loads(path.read_text()) if path.exists() else None
        # the dictionary, the classifier and the report
        dictionary = Dictionary.build(counter.counts, self.config.dictionary_size)
        dictionary.save(self.out / "dict.tsv")
        if classifier:
            atomic_write_json(self.out / "persona_classifier.json", classifier)
        report = make_report(self.plan, self.inputs, kinds, problems, threads, drops, split, written, dictionary,
                             counter.pruned, classifier, self.timings, self.engine)  # fmt: skip
        if self.tagging:
            report["tagging"] = self.tagging
        atomic_write_json(self.out / "report.json", report)
        atomic_write_text(self.out / "report.md", render_report(report))
        shutil.rmtree(self.work, ignore_errors=True)
        return report

    # -- helpers --------------------------------------------------------------------------------------------

    def _each_partition(self, stage: str, todo: list[int], work: str, args: tuple = (),
                        processes: int | None = None, threads: int = 1) -> None:  # fmt: skip
        """The method named `work`, `work(p, *args)`, for each partition p of `todo`, on `processes` (default: the
        build's) processes side by side, or on `threads` threads of this process. Each partition's results are
        written under a temporary name and renamed, so a build killed at any point keeps what finished."""
        bar = self.progress(f"{stage} (partitions)", self.parts)
        done = self.parts - len(todo)
        bar(done)
        processes = min(processes or self.processes, len(todo))
        if threads > 1 and len(todo) > 1:
            threaded = ThreadPoolExecutor(threads)
            try:
                for future in as_completed([threaded.submit(getattr(self, work), p, *args) for p in todo]):
                    future.result()
                    done += 1
                    bar(done)
            finally:  # on an error, the partitions not started are not
                threaded.shutdown(cancel_futures=True)
            return
        if processes <= 1:
            for p in todo:
                getattr(self, work)(p, *args)
                done += 1
                bar(done)
            return
        pool = self._executor()
        for future in as_completed([pool.submit(call, self, work, p, *args) for p in todo]):
            _result(future)
            done += 1
            bar(done)

    def _map(self, work: Callable, calls: list[tuple], bar: Callable) -> list:
        """[work(*args) for args in calls], on the build's processes when there are several (work must be a
        module function, for them to import); `bar` is told how many have finished, in order."""
        if self.processes > 1 and len(calls) > 1:
            futures = [self._executor().submit(work, *args) for args in calls]
            results = (_result(f) for f in futures)
        else:
            results = (work(*args) for args in calls)
        out = []
        for result in results:
            out.append(result)
            bar(len(out))
        return out

    def _ingested(self, name: str) -> list[Path]:
        """Every chunk file of that name, in reading order."""
        folders = [self.work / "ingest" / f"f{i:05d}" for i in range(len(self.inputs))]
        return [path for folder in folders for path in sorted(folder.glob(f"c*-{name}"))]

    def _thread_files(self, name: str) -> list[Path]:
        return [self.work / "threads" / f"p{p:05d}" / name for p in range(self.parts)]


# -- files --------------------------------------------------------------------------------------------------

_HASH_SCHEMA = pa.schema([("h", pa.uint64())])
# the ingested messages with their texts' hashes, which the `repeated` rule reads again in the threads step
INGESTED_SCHEMA = MESSAGE_SCHEMA.append(pa.field("text_hash", pa.uint64()))
# what the files under .work hold: a build interrupted by a confab whose files differ starts over
WORK_LAYOUT = 2


def call(build: Build, method: str, *args):
    """build.method(*args), in a process or task the build was sent to (a module function: bound methods of
    subclasses travel by name)."""
    return getattr(build, method)(*args)


def _frequent_in(p: int, paths: list[Path], most: int) -> np.ndarray:
    """The hashes of hash partition p of the ingested chunks that occur more than `most` times."""
    return frequent_hashes(partition_table(paths, p, _HASH_SCHEMA)["h"].to_numpy(), most)


def _held_candidates(path: Path, bound: int | None, k: int, mode: str, seed: int, unit: str) -> pa.Table:
    """`split.held_candidates` of the examples in one thread partition's file."""
    columns = ["id", "created_utc", "thread_id"]
    schema = pa.schema([EXAMPLE_SCHEMA.field(c) for c in columns])
    table = pa.Table.from_batches(all_batches([path], columns), schema)
    return held_candidates(keyed_table(table, mode, seed, unit), k, bound)


def write_parts(out: Path, q: int, tables: dict[str, pa.Table]) -> None:
    """User partition q's examples as OUT/<split>/part-<q>.parquet, each file whole or not at all."""
    for split, table in tables.items():
        if table.num_rows:
            with atomic_path(out / split / f"part-{q:05d}.parquet") as tmp:
                pq.write_table(table, tmp, compression="zstd")


INGEST_CHUNK_BYTES = 16 << 20  # uncompressed lines a process parses at once


def ingest_chunk(tmp: Path, fmt: str, path: Path, source: str, parts: int, n: int, blocks: list[tuple[int, bytes]]):
    """Chunk n of a block reader's file (`_ingest_blocks`): its messages and text hashes sent to their partitions
    in tmp/c<n>-messages.arrow and tmp/c<n>-hashes.arrow; returns (kinds, problems)."""
    problems = Problems()
    tables = (READERS[fmt].read_block(lines, first, path, source, problems) for first, lines in blocks)
    kinds = write_chunk(tmp, n, tables, parts)
    return kinds, problems.to_dict()


def write_chunk(tmp: Path, n: int, tables: Iterable[pa.Table], parts: int) -> Counter:
    """Message tables to their thread's partition, their texts' hashes to the hash's partition; the kinds."""
    kinds: Counter = Counter()
    with (
        ShuffleWriter(tmp / f"c{n:05d}-messages.arrow", INGESTED_SCHEMA) as out,
        ShuffleWriter(tmp / f"c{n:05d}-hashes.arrow", _HASH_SCHEMA) as hashes,
    ):
        for table in tables:
            kinds.update(table["kind"].to_pylist())
            h = text_hashes(table["text"])
            out.add_table(parts_of(table["thread_id"], parts), table.append_column("text_hash", pa.array(h)))
            hashes.add_table(h % np.uint64(parts), pa.table({"h": h}, schema=_HASH_SCHEMA))
    return kinds


def _chunks(blocks: Iterable[tuple[int, bytes]], size: int) -> Iterator[list[tuple[int, bytes]]]:
    chunk, held = [], 0
    for block in blocks:
        chunk.append(block)
        held += len(block[1])
        if held >= size:
            yield chunk
            chunk, held = [], 0
    if chunk:
        yield chunk


def message_tables(reader, path: Path, source: str, problems: Problems, on_progress) -> Iterator[pa.Table]:
    """A reader's messages as tables of MESSAGE_SCHEMA rows: its own batches where it reads whole blocks at once
    (pushshift), else its messages gathered a few thousand at a time."""
    if hasattr(reader, "read_batches"):
        yield from reader.read_batches(path, source, problems, on_progress)
        return
    rows = []
    for m in reader.read(path, source, problems, on_progress):
        rows.append(message_row(m))
        if len(rows) == _ROWS:
            yield pa.Table.from_pylist(rows, schema=MESSAGE_SCHEMA)
            rows = []
    if rows:
        yield pa.Table.from_pylist(rows, schema=MESSAGE_SCHEMA)


_ROWS = 8192


def _result(future):
    """A task's result; a clear error when its process could not start or died."""
    try:
        return future.result()
    except BrokenProcessPool as e:
        raise SetupError(
            "a process of the build stopped or could not start (see the error above it); a script that runs a "
            'build must start from `if __name__ == "__main__":`, or pass processes=1'
        ) from e


def _die_with_parent(parent: int) -> None:
    """Make a partition task's process end with the build's (Linux): a build killed and resumed must not have
    an orphan still writing the partition it starts again."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the build died before that took effect
        os._exit(1)


def worker_environment(threads: int) -> dict[str, str]:
    """What a build's worker processes find in their environment as they start (a user's own setting wins):
    `threads` polars threads each, their share of the cores (N processes of a thread per core each ran the threads
    step 8% slower on 2 cores), and allocators that keep freed memory for the next partition's arrays instead of
    returning it and faulting its pages in again: glibc's for blocks of up to 256 MB, pyarrow's buffers from glibc's
    too (its default, mimalloc, returned them), polars' jemalloc after 10 s. Together they took the workers' system
    time from 3.3 to 1.2 s per 1M comments (faults 376k -> 169k) and the build from 10.6 to 9.2 s, peaks unmoved."""
    wanted = {"POLARS_MAX_THREADS": str(threads), "MALLOC_MMAP_THRESHOLD_": str(256 << 20),
              "MALLOC_TRIM_THRESHOLD_": str(256 << 20), "ARROW_DEFAULT_MEMORY_POOL": "system",
              "_RJEM_MALLOC_CONF": "dirty_decay_ms:10000,muzzy_decay_ms:10000"}  # fmt: skip
    return {name: os.environ.get(name, value) for name, value in wanted.items()}


def release_memory() -> None:
    """Give the heap this process has freed back to the system (glibc, Linux). glibc keeps freed blocks for reuse,
    and the ingest's chunks (17 MB each, pickled to the processes by a thread of their own) left 130 MB at 10M
    comments under every later stage's peak of the build's process, against 60 MB at 1M."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):  # not glibc (musl has no malloc_trim)
            ctypes.CDLL(None).malloc_trim(0)


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _partitions(inputs: list[Path], partition_mb: float) -> int:
    expected = sum(p.stat().st_size * EXPANSION.get(p.suffix.lower(), 1.0) for p in inputs)
    return max(1, min(MAX_PARTITIONS, math.ceil(expected / (partition_mb * 2**20))))


def _source_names(inputs: list[Path]) -> list[str]:
    """Each input's name as it appears in example ids; inputs with the same name get a #2, #3 suffix."""
    seen: Counter = Counter()
    names = []
    for path in inputs:
        seen[path.name] += 1
        names.append(path.name if seen[path.name] == 1 else f"{path.name}#{seen[path.name]}")
    return names
