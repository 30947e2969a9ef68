"""The dataset build on Spark local[N] against the local engine, on the real Reddit month replicated.

    python benchmarks/spark_speed.py [--copies 10 50] [--files 4] [--persona rules] [--master local[2]]
        [--partition-mb 8]

Each build runs in a fresh process on the same replicated files with the same config; the two outputs are
checked to be identical. With --files N the copies are cut into N files named as months (RC_2006-01 ... with
copies that differ across them), as a cluster job reads a year: one pushshift file is one zstd frame, which one
task must read, so only several files let Spark spread the reading. Prints comments/s of each engine, their
ratio, and Spark's seconds per stage.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MONTH = HERE.parents[1] / "shared" / "data" / "reddit" / "RC_2006-01.zst"


def child(engine: str, srcs: str, out: str, persona: str, partition_mb: float, master: str, skip: str) -> dict:
    from confab.data.build import Build, BuildConfig
    from confab.data.clean import CleanConfig
    from confab.data.spark import SparkBuild

    clean = CleanConfig(skip=[r for r in skip.split(",") if r])
    config = BuildConfig(inputs=srcs.split(","), persona=persona, partition_mb=partition_mb, clean=clean)
    start = time.perf_counter()
    build = SparkBuild(config, out, master) if engine == "spark" else Build(config, out, processes=0)  # every core
    report = build.run()
    return {"seconds": time.perf_counter() - start, "stages": report["seconds"],
            "comments": sum(report["read"]["records"].values()), "partitions": report["partitions"]}  # fmt: skip


def run(*args: str) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def same(a: Path, b: Path) -> bool:
    from confab.data.schema import SPLITS, read_split

    return all(read_split(a, s).to_pylist() == read_split(b, s).to_pylist() for s in SPLITS)


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        engine, src, out, persona, mb, master, skip = sys.argv[2:9]
        print(json.dumps(child(engine, src, out, persona, float(mb), master, skip)))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, nargs="+", default=[10, 50])
    parser.add_argument("--persona", default="rules")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--partition-mb", type=float, default=8.0)
    parser.add_argument("--files", type=int, default=1, help="monthly files the copies are cut into")
    parser.add_argument("--skip-rule", action="append", default=[], help="a cleaning rule to turn off")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    from replicate import replicate

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for copies in args.copies:
            srcs, per = [], -(-copies // args.files)
            for month, first in enumerate(range(0, copies, per), 1):
                srcs.append(Path(tmp) / f"x{copies}" / f"RC_2006-{month:02d}.zst")
                srcs[-1].parent.mkdir(exist_ok=True)
                replicate(MONTH, srcs[-1], min(per, copies - first), first)
            result = {}
            for engine in ("local", "spark"):
                out = Path(tmp) / f"{engine}-{copies}"
                result[engine] = run(engine, ",".join(map(str, srcs)), str(out), args.persona,
                                     str(args.partition_mb), args.master, ",".join(args.skip_rule))  # fmt: skip
                print(engine, copies, result[engine], flush=True)
            identical = same(Path(tmp) / f"local-{copies}", Path(tmp) / f"spark-{copies}")
            rows.append((copies, result, identical))
    skipped = f", rules off: {', '.join(args.skip_rule)}" if args.skip_rule else ""
    from confab.precision import machine

    print(
        f"\npersona {args.persona}{skipped}, {args.files} input file(s), partitions of {args.partition_mb} MB, "
        f"Spark {args.master}\n"
        f"{machine()}\n"
    )
    print("| copies | comments | partitions | local s | local comments/s | Spark s | Spark comments/s | Spark/local | "
          "identical |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for copies, r, identical in rows:
        n = r["local"]["comments"]
        local, spark = r["local"]["seconds"], r["spark"]["seconds"]
        print(f"| {copies} | {n:,} | {r['local']['partitions']} | {local:.1f} | {n / local:,.0f} | {spark:.1f} | "
              f"{n / spark:,.0f} | {local / spark:.2f}× | {'yes' if identical else 'NO'} |")  # fmt: skip
    print("\nSpark seconds per stage:", {c: r["spark"]["stages"] for c, r, _ in rows})


if __name__ == "__main__":
    main()
