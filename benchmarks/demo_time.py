"""How long `confab demo` takes: the first run step by step, then a second run that skips every step.

    .venv/bin/python benchmarks/demo_time.py [--budget quick] [--out DIR] [--precision P]

The first run must stay under 15 minutes on 2 cores (the install comes on top); the second run is the peer: it
loads and shows the results without training, so first/second is what the steps cost. Figures: benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from confab.precision import PRECISIONS, choose, machine


def timed(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", default="quick")
    parser.add_argument("--out", type=Path, default=None, help="Demo folder (default: a temporary one, removed).")
    parser.add_argument("--precision", default="auto", choices=PRECISIONS, help="as `confab demo --precision`")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp()) / "demo"
    confab = [sys.executable, "-m", "confab.cli", "demo", "--out", str(out), "--budget", args.budget, "--no-chat",
              "--precision", args.precision]
    first = timed(confab)
    second = timed(confab)
    steps = json.loads((out / "timings.json").read_text())
    print(f"{machine()}; the demo's precision: {choose(args.precision)}\n")
    print(f"| step ({args.budget}) | seconds | share |\n|---|---:|---:|")
    for step, seconds in steps.items():
        print(f"| {step} | {seconds:.1f} | {seconds / first:.0%} |")
    print(f"| **first run** (process, all steps) | {first:.1f} | {first / 60:.1f} min |")
    print(f"| **second run** (every step skipped) | {second:.1f} | first/second {first / second:.0f}× |")
    if args.out is None:
        shutil.rmtree(out.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
