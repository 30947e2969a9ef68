"""The dataset build on Apache Spark: the local engine's units of work (build.py), run as Spark tasks.

    confab data build RC_2015-*.zst --engine spark --master local[8] --out data/2015    (or spark://host:7077)

Each step of the local engine is a set of independent units, each reading and writing its own files under
OUT/.work: an input file to ingest, a hash partition to count, a thread partition to rebuild and clean, a split
candidate list, a user partition's personas, a user partition's Parquet shards. Here Spark schedules those units
over its executors, one task each, retries a failed task and spreads the cores of a cluster; the units exchange
their rows through the work folder, as a map-reduce shuffle on shared storage, so OUT must be a filesystem every
executor sees (local disk for local[N], NFS or similar for a cluster). The rows do not pass through Spark's JVM.

Being the local engine's units, the same inputs and config give the same files, and a build whose driver is
killed resumes where it stopped, with either engine. Each Python worker (Spark reuses them across tasks) tags
part-of-speech in a helper process of its own with a cache of its own.
"""

from __future__ import annotations

import itertools
import os
import shutil
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as Pending

from confab.data import persona as personas
from confab.data.build import Build, call, worker_environment
from confab.errors import SetupError


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
    """A Build whose units of work run as Spark tasks; the folder checks, config, files and report are the local
    engine's."""

    def __init__(self, config, out, master: str = "local[2]", progress=None):
        super().__init__(config, out, progress, processes=1)  # a task does its unit on its own core
        self.master = master
        self.engine = f"spark {master}"
        self._spark = None

    def __getstate__(self) -> dict:
        """What a task needs: not the session, and the paths as the driver resolves them (an executor's working
        folder is not the driver's)."""
        state = {**super().__getstate__(), "_spark": None}
        state["inputs"] = [p.resolve() for p in self.inputs]
        state["out"], state["work"] = self.out.resolve(), self.work.resolve()
        return state

    def run(self) -> dict:
        if self._already_built():
            return super().run()
        self._spark = spark_session(self.master)
        try:
            return super().run()
        finally:
            self._spark.stop()
            self._spark = None

    def ingest(self) -> None:
        todo = [i for i in range(len(self.inputs)) if not (self.work / "ingest" / f"f{i:05d}").exists()]
        self._tasks("ingest (files)", len(self.inputs), todo, "_ingest_file")

    def _each_partition(self, stage: str, todo: list[int], work: str, args: tuple = (),
                        processes: int | None = None, threads: int = 1) -> None:  # fmt: skip
        self._tasks(f"{stage} (partitions)", self.parts, todo, work, args)

    def _map(self, work: Callable, calls: list[tuple], bar: Callable) -> list:
        rdd = self._spark.sparkContext.parallelize(calls, max(1, len(calls))).map(lambda args: work(*args))
        return self._collect(rdd, bar, 0)

    def _start_tagger(self) -> None:
        """None in the driver: each Python worker tags in a helper process of its own (`_persona_partition`)."""

    def _persona_partition(self, q: int, classifier, pool) -> None:
        if self.setup in personas.TAGGED:
            self._tagger = _worker_tagger()
        super()._persona_partition(q, classifier, pool)

    def _tasks(self, label: str, total: int, todo: list[int], work: str, args: tuple = ()) -> None:
        """The method named `work`, `work(unit, *args)`, for each unit of `todo`, a Spark task each."""
        bar = self.progress(label, total)
        bar(total - len(todo))
        if todo:
            build = self
            rdd = self._spark.sparkContext.parallelize(todo, len(todo)).map(lambda u: call(build, work, u, *args))
            self._collect(rdd, bar, total - len(todo))

    def _collect(self, rdd, bar: Callable, done: int) -> list:
        """rdd.collect(), telling `bar` how many of its tasks have finished (done before them) as they do."""
        sc = self._spark.sparkContext
        group = f"confab-{next(_JOBS)}"

        def job() -> list:
            sc.setJobGroup(group, "confab data build")  # per thread: Spark's pinned thread mode
            return rdd.collect()

        with ThreadPoolExecutor(1) as thread:
            future = thread.submit(job)
            while True:
                try:
                    results = future.result(timeout=0.5)
                    break
                except Pending:
                    bar(done + _finished_tasks(sc, group))
        bar(done + len(results))
        return results


_JOBS = itertools.count()


def _finished_tasks(sc, group: str) -> int:
    tracker = sc.statusTracker()
    jobs = [tracker.getJobInfo(j) for j in tracker.getJobIdsForGroup(group)]
    stages = [tracker.getStageInfo(s) for job in jobs if job for s in job.stageIds]
    return sum(stage.numCompletedTasks for stage in stages if stage)


_TAGGERS: list = []


def _worker_tagger() -> personas.PosFilter:
    """One spaCy pipeline per Python worker (Spark reuses its workers), not one per task, in a helper process: the
    worker itself imports no spaCy (nor the PyTorch that spaCy's thinc imports when it is installed)."""
    if not _TAGGERS:
        _TAGGERS.append(personas.PosFilter(helpers=1))
    return _TAGGERS[0]
