"""The Spark engine builds the same dataset as the local one (Spark local[2]; skipped without Java or PySpark)."""

import importlib.util
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from confab.cli import app
from confab.data.build import Build, BuildConfig
from confab.data.schema import SPLITS, read_split

from .conftest import ended, shared_file

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs Java (17 or newer), which is not installed"),
    pytest.mark.skipif(importlib.util.find_spec("pyspark") is None, reason="PySpark is not installed (confab[spark])"),
]


def same_dataset(local: Path, spark: Path) -> dict:
    """Assert the two folders hold the same examples, files, dictionary and report; returns the report."""
    for split in SPLITS:
        assert sorted(p.name for p in (local / split).iterdir()) == sorted(p.name for p in (spark / split).iterdir())
        assert read_split(local, split).to_pylist() == read_split(spark, split).to_pylist()
    assert (local / "dict.tsv").read_text() == (spark / "dict.tsv").read_text()
    a, b = (json.loads((d / "report.json").read_text()) for d in (local, spark))
    assert b["engine"] == "spark local[2]" and a["engine"] == "local"
    assert {k: v for k, v in a.items() if k not in ("seconds", "engine", "tagging")} == {
        k: v for k, v in b.items() if k not in ("seconds", "engine", "tagging")
    }
    return a


def test_spark_and_local_builds_of_a_real_month_are_identical(tmp_path):
    from confab.data.spark import SparkBuild

    month = shared_file("reddit/RC_2006-01.zst")
    # several partitions, so the grouping by thread and by user is exercised
    config = BuildConfig(inputs=[str(month)], persona="rules", valid_size=40, test_size=100, partition_mb=0.5)
    Build(config, tmp_path / "local").run()
    SparkBuild(config, tmp_path / "spark", "local[2]").run()
    report = same_dataset(tmp_path / "local", tmp_path / "spark")
    assert report["partitions"] > 1 and report["examples"]["total"] > 400 and report["persona"]["users_with_persona"]


def test_the_command_line_spark_build_with_the_persona_classifier(fixtures, tmp_path):
    inputs = [str(fixtures / "RS_2020-01_fixture.jsonl"), str(fixtures / "RC_2020-01_fixture.jsonl")]
    common = ["--persona", "rules+classifier", "--valid-size", "1", "--test-size", "1", "--partition-mb", "0.001",
              "--quiet"]  # fmt: skip
    runner = CliRunner()
    for engine, out in (("local", "local"), ("spark", "spark")):
        result = runner.invoke(
            app, ["data", "build", *inputs, *common, "--engine", engine, "--out", str(tmp_path / out)]
        )
        assert result.exit_code == 0, result.output
    report = same_dataset(tmp_path / "local", tmp_path / "spark")
    assert "classifier" in report["persona"]
    assert (tmp_path / "spark" / "persona_classifier.json").read_text() == (
        tmp_path / "local" / "persona_classifier.json"
    ).read_text()
    wrong = runner.invoke(app, ["data", "build", *inputs, "--engine", "flink", "--out", str(tmp_path / "x")])
    assert wrong.exit_code == 2 and "--engine must be local or spark" in " ".join(wrong.output.split())


def test_spark_drops_repeated_messages_as_the_local_engine_does(fixtures, tmp_path):
    """The texts' hashes counted per hash partition over arrays (not a record per message), the same drops."""
    from confab.data.clean import CleanConfig
    from confab.data.spark import SparkBuild

    src = tmp_path / "RC_repeats.jsonl"
    lines = (fixtures / "RC_2020-01_fixture.jsonl").read_text().splitlines()
    same = [json.dumps({"id": f"r{i}", "author": f"u{i}", "parent_id": "t3_z", "link_id": "t3_z",
                        "body": "Exactly  what I said."}) for i in range(5)]  # fmt: skip
    src.write_text("\n".join(lines + same) + "\n")
    config = BuildConfig(inputs=[str(src)], persona="none", valid_size=1, test_size=1, partition_mb=0.001,
                         clean=CleanConfig(max_repeats=4))  # fmt: skip
    Build(config, tmp_path / "local", processes=2).run()  # the hash partitions counted side by side
    SparkBuild(config, tmp_path / "spark", "local[2]").run()
    report = same_dataset(tmp_path / "local", tmp_path / "spark")
    assert report["cleaning"]["dropped"]["repeated"] == 5 and report["partitions"] > 1


def test_sparks_python_workers_run_one_polars_thread_each(monkeypatch):
    """Spark runs a task per core: its Python workers start with one polars thread each (a user's setting wins)."""
    import os

    from confab.data.spark import spark_session

    monkeypatch.delenv("POLARS_MAX_THREADS", raising=False)
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "12345")
    spark = spark_session("local[2]")
    try:
        names = ["POLARS_MAX_THREADS", "MALLOC_TRIM_THRESHOLD_"]
        seen = spark.sparkContext.parallelize(range(4), 2).map(lambda _: [os.environ.get(n) for n in names]).collect()
    finally:
        spark.stop()
    assert seen == [["1", "12345"]] * 4


def test_a_spark_build_killed_with_sigkill_resumes_to_the_local_engines_output(fixtures, tmp_path):
    """The driver killed while the threads step runs: the units already done stay in OUT/.work, and the build
    started again (with Spark) finishes them into the files the local engine writes."""
    import importlib.util
    import os
    import signal
    import subprocess
    import sys
    import time

    import psutil

    spec = importlib.util.spec_from_file_location("replicate", ROOT / "benchmarks" / "replicate.py")
    replicate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(replicate)
    src = tmp_path / "RC_2020-01_big.zst"
    replicate.replicate(fixtures / "RC_2020-01_fixture.jsonl", src, 300)
    common = ["--quiet", "--partition-mb", "0.05", "--persona", "random-from-user", "--valid-size", "20",
              "--test-size", "20"]  # fmt: skip
    local = CliRunner().invoke(app, ["data", "build", str(src), *common, "--out", str(tmp_path / "local")])
    assert local.exit_code == 0, local.output
    spark = [sys.executable, "-m", "confab.cli", "data", "build", str(src), *common, "--engine", "spark", "--out",
             str(tmp_path / "spark")]  # fmt: skip
    proc = subprocess.Popen(spark)
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        if (tmp_path / "spark" / ".work" / "threads" / "p00001").exists():
            below = psutil.Process(proc.pid).children(recursive=True)  # the JVM, its Python workers, the taggers
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.005)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL and not (tmp_path / "spark" / "report.json").exists()
    # the JVM ends as the driver's pipe closes, and its Python workers with it: none is left writing
    psutil.wait_procs(below, timeout=60)
    assert below and all(ended(p) for p in below)
    # the input's bytes gone (its size and time kept, which the resumed build checks): what was read is not read again
    stat = src.stat()
    src.write_bytes(bytes(stat.st_size))
    os.utime(src, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    subprocess.run(spark, check=True)
    same_dataset(tmp_path / "local", tmp_path / "spark")


def test_tasks_get_the_paths_as_the_driver_resolves_them(fixtures, tmp_path, monkeypatch):
    """An executor's working folder is not the driver's: relative paths reach the tasks resolved."""
    import pickle

    from confab.data.spark import SparkBuild

    monkeypatch.chdir(tmp_path)
    shutil.copy(fixtures / "RC_2020-01_fixture.jsonl", tmp_path / "RC_2020-01.jsonl")
    build = SparkBuild(BuildConfig(inputs=["RC_2020-01.jsonl"]), "out")
    task = pickle.loads(pickle.dumps(build))
    assert task.inputs == [tmp_path / "RC_2020-01.jsonl"] and task.out == tmp_path / "out"
    assert task.work == tmp_path / "out" / ".work" and build.out == Path("out") and task._spark is None
