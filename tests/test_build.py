import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from confab.data.build import Build, BuildConfig
from confab.data.clean import CleanConfig
from confab.data.schema import EXAMPLE_SCHEMA, SPLITS, read_split

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("replicate", ROOT / "benchmarks" / "replicate.py")
replicate = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(replicate)


def reddit_config(fixtures, tmp_path, **kw) -> BuildConfig:
    quarantined = tmp_path / "quarantined.txt"
    quarantined.write_text("quarantinedplace\n")
    clean = CleanConfig(max_repeats=2, quarantined_subreddits=str(quarantined))
    inputs = [str(fixtures / "RS_2020-01_fixture.jsonl"), str(fixtures / "RC_2020-01_fixture.jsonl")]
    return BuildConfig(inputs=inputs, format="pushshift", clean=clean, **kw)


def all_rows(out: Path) -> dict[str, list[dict]]:
    return {s: read_split(out, s).to_pylist() for s in SPLITS}


def test_reddit_build_end_to_end(fixtures, tmp_path):
    out = tmp_path / "ds"
    report = Build(reddit_config(fixtures, tmp_path, valid_size=1, test_size=1), out).run()
    assert (out / "config.json").exists() and (out / "report.md").exists() and (out / "dict.tsv").exists()
    assert not (out / ".work").exists()
    assert report["read"]["records"] == {"submission": 2, "comment": 26}
    dropped = report["cleaning"]["dropped"]
    assert dropped["quarantined"] == 1 and dropped["repeated"] == 3 and dropped["bot"] == 1
    assert dropped["descendant_of_removed"] == 3  # c5, c5b under the deleted c4; b2 under b1
    rows = all_rows(out)
    assert [len(rows[s]) for s in SPLITS] == [report["examples"][s] for s in SPLITS]
    assert report["examples"]["valid"] == report["examples"]["test"] == 1
    ids = [r["id"] for s in SPLITS for r in rows[s]]
    assert len(ids) == len(set(ids)) == report["examples"]["total"]
    for split in SPLITS:
        table = pq.read_table(next((out / split).glob("*.parquet")))
        assert table.schema.equals(EXAMPLE_SCHEMA, check_metadata=False)
    examples = {r["id"]: r for s in SPLITS for r in rows[s]}
    # every top-level comment has the submission as context; the orphan d7 has none and yields no example
    assert examples["t1_c1"]["context"] == ["What do you do to stay fit?"]
    assert "t1_d7" not in examples and "t1_c13" not in examples
    assert report["threads"]["orphan_roots"] == 1


def test_personas_come_from_training_comments_only(fixtures, tmp_path):
    out = tmp_path / "ds"
    Build(reddit_config(fixtures, tmp_path, valid_size=2, test_size=2, seed=3), out).run()
    rows = all_rows(out)
    held_out_texts = [r["response"] for s in ("valid", "test") for r in rows[s]]
    for split in SPLITS:
        for row in rows[split]:
            for sentence in row["persona"]:
                assert sentence not in row["response"]
                assert not any(sentence in text for text in held_out_texts), (sentence, split)
    personas = {r["response_author"]: r["persona"] for s in SPLITS for r in rows[s] if r["persona"]}
    assert personas, "some users must have a persona"
    assert all(len(p) <= 100 for p in personas.values())


@pytest.mark.parametrize("setup", ["none", "rules", "rules+classifier", "random-from-user", "random-from-dataset"])
def test_every_persona_setup_builds(fixtures, tmp_path, setup):
    cfg = reddit_config(
        fixtures, tmp_path, persona=setup, max_persona=2, valid_size=0, test_size=0, classifier_threshold=0.01
    )
    report = Build(cfg, tmp_path / "ds").run()
    rows = read_split(tmp_path / "ds", "train").to_pylist()
    assert all(len(r["persona"]) <= 2 for r in rows)
    with_persona = sum(bool(r["persona"]) for r in rows)
    assert report["persona"]["train_examples_with_persona"] == with_persona
    assert (with_persona == 0) == (setup == "none")
    if setup == "rules+classifier":
        assert report["persona"]["classifier"]["positives"] == 602
        assert (tmp_path / "ds" / "persona_classifier.json").exists()
    if setup == "rules":
        for r in rows:
            for s in r["persona"]:
                assert any(w in s.lower().split() for w in ("i", "my")), s


def test_same_input_and_seed_give_the_same_dataset(fixtures, tmp_path):
    cfg = reddit_config(fixtures, tmp_path, examples="paths", valid_size=2, test_size=2)
    Build(cfg, tmp_path / "a").run()
    Build(cfg, tmp_path / "b").run()
    assert all_rows(tmp_path / "a") == all_rows(tmp_path / "b")


def test_rerun_skips_and_a_different_config_is_refused(fixtures, tmp_path):
    cfg = reddit_config(fixtures, tmp_path, valid_size=1, test_size=1)
    first = Build(cfg, tmp_path / "ds").run()
    assert Build(cfg, tmp_path / "ds").run() == first
    with pytest.raises(FileExistsError, match="another config"):
        Build(reddit_config(fixtures, tmp_path, valid_size=1, test_size=1, seed=9), tmp_path / "ds").run()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not a confab dataset"):
        Build(cfg, tmp_path / "other").run()


def test_malformed_input_is_reported_and_the_build_goes_on(fixtures, tmp_path):
    bad = tmp_path / "RC_bad.jsonl"
    bad.write_bytes((fixtures / "RC_2020-01_fixture.jsonl").read_bytes() + b"{oops\n" + b'{"body": "\xff"}\n')
    cfg = BuildConfig(inputs=[str(bad)], valid_size=0, test_size=0)
    report = Build(cfg, tmp_path / "ds").run()
    malformed = report["read"]["malformed"]
    assert malformed["by_kind"] == {"bad_json": 1, "bad_utf8": 1}
    assert [(s["line"], s["kind"]) for s in malformed["samples"]] == [(27, "bad_json"), (28, "bad_utf8")]
    assert "RC_bad.jsonl:27: bad_json" in (tmp_path / "ds" / "report.md").read_text()
    assert report["examples"]["total"] > 0


def test_curated_corpus_keeps_source_personas_and_candidates(fixtures, tmp_path):
    cfg = BuildConfig(inputs=[str(fixtures / "personachat_fixture.txt")], valid_size=0, test_size=0)
    report = Build(cfg, tmp_path / "ds").run()
    assert report["format"] == "parlai" and report["persona"]["setup"] == "source"
    assert not report["cleaning"]["enabled"]
    rows = read_split(tmp_path / "ds", "train").to_pylist()
    assert len(rows) == 3  # the bot's first turn of dialogue 2 has no context
    for r in rows:
        assert r["candidates"][r["candidate_labels"].index(1)] == r["response"]
        assert r["persona"] in (["i like to ski.", "my wife does not like me anymore."], ["i have two cats."])


def test_time_split_needs_and_uses_timestamps(fixtures, tmp_path):
    cfg = reddit_config(fixtures, tmp_path, split="time", valid_size=1, test_size=1)
    Build(cfg, tmp_path / "ds").run()
    rows = all_rows(tmp_path / "ds")
    latest = max(r["created_utc"] for r in rows["train"])
    assert rows["valid"][0]["created_utc"] > latest and rows["test"][0]["created_utc"] > rows["valid"][0]["created_utc"]
    with pytest.raises(ValueError, match="no created_utc"):
        Build(
            BuildConfig(inputs=[str(fixtures / "knover_fixture.tsv")], split="time", valid_size=0, test_size=0),
            tmp_path / "k",
        ).run()


def test_a_build_killed_with_sigkill_resumes_to_the_same_output(tmp_path):
    src = tmp_path / "RC_2020-01_big.zst"
    replicate.replicate(Path(__file__).parent / "fixtures" / "RC_2020-01_fixture.jsonl", src, 1000)
    # copies repeat every message 1000 times: keep the repeated-message rule from dropping them all
    args = [
        sys.executable,
        "-m",
        "confab.cli",
        "data",
        "build",
        str(src),
        "--quiet",
        "--partition-mb",
        "0.05",
        "--persona",
        "random-from-user",
        "--skip-rule",
        "repeated",
    ]
    subprocess.run([*args, "--out", str(tmp_path / "whole")], check=True)
    # killed when a stage has written part of its work (polled, so the points do not depend on the speed)
    points = {"ingest": ("ingest/.tmp-f00000", "c00000-messages.arrow"), "threads": ("threads", "p00002"),
              "write": ("written", "q00001.json")}  # fmt: skip
    interrupted = 0
    for stage, (folder, done) in points.items():
        out = tmp_path / f"killed-{stage}"
        proc = subprocess.Popen([*args, "--out", str(out)])
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            if (out / ".work" / folder / done).exists():
                os.kill(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.005)
        proc.wait()
        interrupted += not (out / "report.json").exists()
        subprocess.run([*args, "--out", str(out)], check=True)
        assert all_rows(out) == all_rows(tmp_path / "whole"), stage
        whole = json.loads((tmp_path / "whole" / "report.json").read_text())
        resumed = json.loads((out / "report.json").read_text())
        assert resumed["examples"] == whole["examples"] and resumed["cleaning"] == whole["cleaning"]
    assert interrupted >= 2, "the kills should land before the build ends"


def test_resuming_with_changed_inputs_is_refused(fixtures, tmp_path):
    src = tmp_path / "RC_x.jsonl"
    src.write_bytes((fixtures / "RC_2020-01_fixture.jsonl").read_bytes())
    cfg = BuildConfig(inputs=[str(src)], valid_size=0, test_size=0)
    build = Build(cfg, tmp_path / "ds")
    build._claim_folder()
    build.ingest()  # then the process dies
    with open(src, "a") as f:
        f.write('{"id": "new", "author": "z", "parent_id": "t3_a", "link_id": "t3_a", "body": "one more line"}\n')
    with pytest.raises(FileExistsError, match="the inputs, the polars version or confab.s work files changed"):
        Build(cfg, tmp_path / "ds").run()


def test_processes_side_by_side_build_what_one_process_builds(fixtures, tmp_path, monkeypatch):
    """Chunks of the input parsed by two processes, partitions built by two: the same rows, files and report
    (malformed lines in several chunks reported in line order)."""
    import confab.data.build as build

    copies = tmp_path / "copies.jsonl"
    replicate.replicate(fixtures / "RC_2020-01_fixture.jsonl", copies, 200)
    lines = copies.read_text().splitlines()
    for at in (5, 900, 2500, 4100):  # a broken line, a bad record, bad UTF-8 (below), in different chunks
        lines.insert(at, '{"id": "broken", "body": ' if at % 2 else '{"id": 7, "body": "x"}')
    src = tmp_path / "RC_mixed.jsonl"
    src.write_bytes("\n".join(lines).encode().replace(b"\n", b"\n\xff\xfe not utf-8\n", 1) + b"\n")
    monkeypatch.setattr(build, "INGEST_CHUNK_BYTES", 100 << 10)  # several chunks; chunking is the parent's
    config = BuildConfig(inputs=[str(fixtures / "RS_2020-01_fixture.jsonl"), str(src)], persona="random-from-user",
                         partition_mb=0.1, clean=CleanConfig(skip=["repeated"]))  # fmt: skip
    one = Build(config, tmp_path / "one", processes=1).run()
    two = Build(config, tmp_path / "two", processes=2).run()
    assert one["partitions"] > 4 and one["read"]["malformed"]["total"] == 5
    assert all_rows(tmp_path / "one") == all_rows(tmp_path / "two")
    for split in SPLITS:
        names = sorted(p.name for p in (tmp_path / "one" / split).glob("*.parquet"))
        assert names == sorted(p.name for p in (tmp_path / "two" / split).glob("*.parquet"))
    assert {k: v for k, v in one.items() if k != "seconds"} == {k: v for k, v in two.items() if k != "seconds"}
    lines_reported = [s["line"] for s in one["read"]["malformed"]["samples"]]
    assert lines_reported == sorted(lines_reported)


def _arrow_pool(_) -> str:
    import pyarrow

    return pyarrow.default_memory_pool().backend_name


def test_the_build_processes_start_with_their_share_of_the_cores(fixtures, tmp_path, monkeypatch):
    """Each process of a build gets cores / processes polars threads and glibc's thresholds from the environment it
    starts with; the caller's environment is left as it was, and a setting of the user's wins."""
    import os

    import confab.data.build as build

    monkeypatch.setattr(build, "_cores", lambda: 4)
    monkeypatch.delenv("POLARS_MAX_THREADS", raising=False)
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "12345")
    config = BuildConfig(inputs=[str(fixtures / "RC_2020-01_fixture.jsonl")])
    job = Build(config, tmp_path / "ds", processes=2)
    try:
        pool = job._executor()
        names = ("POLARS_MAX_THREADS", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "ARROW_DEFAULT_MEMORY_POOL")
        seen = {name: set(pool.map(os.getenv, [name] * 8)) for name in names}
        pools = set(pool.map(_arrow_pool, range(4)))
        assert len(pool._processes) == 2
    finally:
        job._executor().shutdown()
    assert seen == {"POLARS_MAX_THREADS": {"2"}, "MALLOC_MMAP_THRESHOLD_": {str(256 << 20)},
                    "MALLOC_TRIM_THRESHOLD_": {"12345"}, "ARROW_DEFAULT_MEMORY_POOL": {"system"}}  # fmt: skip
    assert pools == {"system"}  # pyarrow read it as it started
    assert "POLARS_MAX_THREADS" not in os.environ and "MALLOC_MMAP_THRESHOLD_" not in os.environ
    assert os.environ["MALLOC_TRIM_THRESHOLD_"] == "12345"


def test_the_repeated_rule_reads_the_hashes_the_ingest_wrote(fixtures, tmp_path):
    """The ingested messages carry their text's hash; the threads step's `repeated` rule uses them, and they are the
    hashes of the texts (a text over the limit is dropped as when the hashes are computed again)."""
    import numpy as np

    from confab.data.build import INGESTED_SCHEMA
    from confab.data.clean import Cleaner, text_hashes
    from confab.data.shuffle import partition_table

    src = tmp_path / "RC_repeats.jsonl"
    lines = (fixtures / "RC_2020-01_fixture.jsonl").read_text().splitlines()
    same = [json.dumps({"id": f"r{i}", "author": f"u{i}", "parent_id": "t3_z", "link_id": "t3_z",
                        "body": "Exactly  what I said."}) for i in range(5)]  # fmt: skip
    src.write_text("\n".join(lines + same) + "\n")
    config = BuildConfig(inputs=[str(src)], persona="none", valid_size=0, test_size=0, clean=CleanConfig(max_repeats=4))
    build = Build(config, tmp_path / "ds", processes=1)
    build._claim_folder()
    build.ingest()
    build.count_repeats()
    table = partition_table(build._ingested("messages.arrow"), 0, INGESTED_SCHEMA)
    assert np.array_equal(table["text_hash"].to_numpy(), text_hashes(table["text"]))
    frequent = set(np.load(build.work / "frequent.npy").tolist())
    assert len(frequent) == 1
    cleaner = Cleaner(config.resolved().clean, frequent)
    rules = cleaner.first_rules(table)
    assert rules == cleaner.first_rules(table.drop_columns(["text_hash"]))
    assert rules.count("repeated") == 5
    report = build.run()
    assert report["cleaning"]["dropped"]["repeated"] == 5
