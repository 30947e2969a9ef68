"""The released PLATO-2's size on this machine, before downloading it: random weights of the 24-layer shape saved
as `confab convert plato2` saves a conversion, then one full reply (20 candidates, one per latent, the reference's
decoding: top-k 10 sampling, at most 64 tokens, then NSP ranking) in each precision, each in a fresh process.

    .venv/bin/python benchmarks/released_plato2.py [--size 24L] [--replies 5] [--max-length 64]

Random weights rarely emit [EOS], so each candidate runs to the length limit: the worst case of a real reply.
Peak RSS is the process's (both models loaded, then the replies).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VOCAB = Path(__file__).resolve().parents[1].parent / "shared" / "plato2_reference"
CONTEXTS = [["hi , how are you doing today ?"], ["do you have any pets ?", "yes , two dogs . do you ?"],
            ["what do you do for a living ?"], ["i love to go skiing in the winter ."],
            ["where did you grow up ?", "in a small town by the sea ."]]  # fmt: skip


def one_precision(folder: Path, precision: str, replies: int, max_length: int) -> dict:
    import torch

    from confab.generation.agent import PlatoAgent

    start = time.perf_counter()
    agent = PlatoAgent(folder / "generator", folder / "evaluator", precision=precision,
                       decoding={"max_length": max_length})  # fmt: skip
    loaded = time.perf_counter() - start
    rss_loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    params = sum(p.numel() for p in agent.model.parameters()) + sum(p.numel() for p in agent.evaluator.parameters())
    seconds = []
    for i in range(replies + 1):
        torch.manual_seed(i)
        reply = agent.respond(CONTEXTS[i % len(CONTEXTS)], [])
        if i:  # the first reply warms up
            seconds.append(reply.seconds)
    return {"precision": precision, "parameters": params, "load_s": loaded, "rss_loaded_mb": rss_loaded,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "p50_ms": 1000 * statistics.median(seconds), "replies": len(seconds),
            "tokens": max(len(c.text.split()) for c in reply.candidates)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="24L", choices=["24L", "32L"])
    parser.add_argument("--replies", type=int, default=5)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--precision", nargs="+", choices=["float32", "bfloat16"], default=None,
                        help="the precisions measured (default: both where the CPU has bfloat16 units, else float32: "
                        "emulated bfloat16 takes minutes a reply)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one_precision(Path(args.child[0]), args.child[1], args.replies, args.max_length)))
        return
    if not (VOCAB / "spm.model").exists():
        sys.exit(f"{VOCAB}: Knover's spm.model and vocab.txt are needed (the shared folder beside the project)")
    from confab.generation.knover import random_release
    from confab.precision import cpu_bfloat16_units, machine

    precisions = args.precision or (["bfloat16", "float32"] if cpu_bfloat16_units() else ["float32"])

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for precision in precisions:
            folder = Path(tmp) / precision
            random_release(args.size, folder, VOCAB, precision)
            out = subprocess.run([sys.executable, __file__, "--child", str(folder), precision, "--replies",
                                  str(args.replies), "--max-length", str(args.max_length)],
                                 check=True, capture_output=True, text=True).stdout  # fmt: skip
            rows.append(json.loads(out.splitlines()[-1]))
            print(rows[-1], flush=True)
    print(f"\n{machine()}\n")
    print(f"| {args.size}, random weights | parameters (both models) | load s | RSS loaded MB | peak RSS MB | "
          "reply p50 ms |\n|---|---:|---:|---:|---:|---:|")  # fmt: skip
    for r in rows:
        print(
            f"| {r['precision']} | {r['parameters']:,} | {r['load_s']:.1f} | {r['rss_loaded_mb']:,.0f} | "
            f"{r['peak_rss_mb']:,.0f} | {r['p50_ms']:,.0f} |"
        )


if __name__ == "__main__":
    main()
