"""The dataset build's output on the real Reddit month, fixed before the builder changes (issue: the columnar data
path): every split's rows, the dictionary and the report's counts must stay what they are, or the difference is a
fix explained where the expected file is rewritten (`CONFAB_WRITE_GOLDEN=1 pytest tests/test_golden_build.py`)."""

import hashlib
import json
import os

import pytest

from confab.data.build import Build, BuildConfig
from confab.data.schema import SPLITS, read_split
from tests.conftest import FIXTURES, shared_file

GOLDEN = FIXTURES / "golden_build_RC_2006-01.json"
COUNTS = ("read", "threads", "cleaning", "examples", "split", "persona", "dictionary")  # not timings or paths
SETUPS = {"pairs-random-from-user": dict(persona="random-from-user"), "paths-rules": dict(persona="rules",
          examples="paths")}  # fmt: skip


def summary(folder, report) -> dict:
    """Each split's row count and the sha256 of its rows (canonical JSON, sorted), the dictionary's sha256, and
    the report's counts."""
    out = {"report": {k: report[k] for k in COUNTS}}
    for split in SPLITS:
        rows = sorted(json.dumps(r, sort_keys=True, default=str) for r in read_split(folder, split).to_pylist())
        out[split] = {"rows": len(rows), "sha256": hashlib.sha256("\n".join(rows).encode()).hexdigest()}
    out["dict.tsv"] = hashlib.sha256((folder / "dict.tsv").read_bytes()).hexdigest()
    return out


def check_golden(name: str, folder, report) -> None:
    got = json.loads(json.dumps(summary(folder, report)))
    golden = json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}
    if os.environ.get("CONFAB_WRITE_GOLDEN") == "1":
        GOLDEN.write_text(json.dumps({**golden, name: got}, indent=1, sort_keys=True) + "\n")
        pytest.skip(f"wrote {GOLDEN.name} for {name}")
    assert name in golden, f"{GOLDEN.name} has no {name}: write it with CONFAB_WRITE_GOLDEN=1"
    assert got["report"] == golden[name]["report"]
    assert {k: v for k, v in got.items() if k != "report"} == {k: v for k, v in golden[name].items() if k != "report"}


@pytest.mark.parametrize("setup", sorted(SETUPS))
def test_the_real_month_builds_to_the_golden_output(setup, tmp_path):
    month = shared_file("reddit/RC_2006-01.zst")
    report = Build(BuildConfig(inputs=[str(month)], **SETUPS[setup]), tmp_path / "ds").run()
    check_golden(setup, tmp_path / "ds", report)


@pytest.fixture(scope="module")
def replicated(tmp_path_factory):
    """The month 30 times over with renamed ids and authors and changed words (benchmarks/replicate.py): 109,980
    comments."""
    from tests.test_build import replicate

    path = tmp_path_factory.mktemp("replicated") / "RC_2006-01_x30.zst"
    replicate.replicate(shared_file("reddit/RC_2006-01.zst"), path, 30)
    return path


@pytest.mark.parametrize("setup", sorted(SETUPS))
def test_the_replicated_month_builds_to_the_golden_output(setup, replicated, tmp_path):
    """Golden files written by the columnar builder when the copies' texts began to differ (the real month's were
    written by the per-record builder before the columnar path replaced it)."""
    report = Build(BuildConfig(inputs=[str(replicated)], **SETUPS[setup]), tmp_path / "ds").run()
    check_golden(f"replicated-30-{setup}", tmp_path / "ds", report)


def test_the_copies_keep_the_months_drop_share_of_every_rule(replicated, tmp_path):
    """The copies' texts differ (no sentence once per copy) but every cleaning rule drops the same share of
    comments as in the real month, within a point (benchmarks/replicate.py)."""
    from tests.test_build import replicate

    shares = {}
    for name, path in (("month", shared_file("reddit/RC_2006-01.zst")), ("copies", replicated)):
        report = Build(BuildConfig(inputs=[str(path)], persona="none"), tmp_path / name).run()
        n = sum(report["read"]["records"].values())
        shares[name] = {rule: count / n for rule, count in report["cleaning"]["dropped"].items()}
    assert shares["month"]["deleted"] > 0.05 and shares["month"]["url"] > 0.005  # the rules do fire
    for rule in set(shares["month"]) | set(shares["copies"]):
        assert abs(shares["month"].get(rule, 0) - shares["copies"].get(rule, 0)) < 0.01, rule
    bodies = [json.loads(line)["body"] for _, line in replicate.iter_lines(replicated, replicate.Problems())]
    month = len(set(bodies[: len(bodies) // 30]))
    assert len(set(bodies)) > 25 * month, "the copies should not repeat the month's texts"
