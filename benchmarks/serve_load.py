"""A bounded load test of `confab serve` on loopback: many sessions at once, with request batching on and off.

    python benchmarks/serve_load.py --model GEN --evaluator EVAL [--sessions 32 --seconds 30 --max-batch 16]
    python benchmarks/serve_load.py --model RETRIEVAL --index INDEX

For each setting a server starts in its own process on 127.0.0.1 (a free port), `--sessions` clients each keep
one session and send the next message as soon as the last reply came, for `--seconds`; then the clients stop
and the server is stopped. Prints replies/s, p50/p99 latency and errors per setting, and the throughput ratio of
batching on to off (one run, so the machine's noise hits both alike).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

from confab.eval.selfchat import vinyals_le_questions

MESSAGES = vinyals_le_questions()
PERSONAS = [["i love to ski.", "i have two dogs."], ["i am a nurse.", "i work nights."], []]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(args, max_batch: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [sys.executable, "-m", "confab.cli", "serve", "--model", str(args.model), "--port", str(port),
               "--max-batch", str(max_batch), "--max-wait-ms", str(args.max_wait_ms)]  # fmt: skip
    for option in ("evaluator", "index", "precision"):
        if getattr(args, option):
            command += [f"--{option}", str(getattr(args, option))]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              env={**os.environ, "NO_COLOR": "1"})  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/v1/health", timeout=1).status_code == 200:
                return server, url
        except httpx.TransportError:
            time.sleep(0.2)
        if server.poll() is not None:
            raise RuntimeError("the server stopped: " + server.stderr.read().decode())
    server.kill()
    raise RuntimeError("the server did not start within 120 s")


async def load(url: str, sessions: int, seconds: float, seed: int) -> dict:
    latencies, errors = [], 0
    stop = time.monotonic() + seconds

    async def client(i: int) -> None:
        nonlocal errors
        rng = random.Random(seed * 1000 + i)
        session = None
        async with httpx.AsyncClient(base_url=url, timeout=120) as http:
            while time.monotonic() < stop:
                body = {"message": rng.choice(MESSAGES)}
                if session is None:
                    body["persona"] = rng.choice(PERSONAS)
                else:
                    body["session_id"] = session
                start = time.perf_counter()
                try:
                    response = await http.post("/v1/chat", json=body)
                    response.raise_for_status()
                    session = response.json()["session_id"]
                    latencies.append(time.perf_counter() - start)
                except httpx.HTTPError:
                    errors += 1

    start = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(sessions)))
    elapsed = time.perf_counter() - start  # the last replies arrive after the deadline: count their time too
    ms = np.array(latencies) * 1000
    return {"replies": len(latencies), "errors": errors, "seconds": elapsed,
            "per_s": len(latencies) / elapsed, "p50": float(np.percentile(ms, 50)) if len(ms) else float("nan"),
            "p99": float(np.percentile(ms, 99)) if len(ms) else float("nan")}  # fmt: skip


def batch_sizes(url: str) -> str:
    text = httpx.get(url + "/metrics").text
    values = {line.split()[0]: float(line.split()[1]) for line in text.splitlines() if line.startswith("confab_batch")}
    count = values.get("confab_batch_size_count", 0)
    return f"{values.get('confab_batch_size_sum', 0) / count:.1f}" if count else "-"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--evaluator", type=Path)
    parser.add_argument("--index", type=Path)
    parser.add_argument("--precision", choices=["auto", "float32", "bfloat16"], help="the server's (default: auto)")
    parser.add_argument("--sessions", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--max-batch", type=int, default=16)
    parser.add_argument("--max-wait-ms", type=float, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = []
    for name, max_batch in (("batching on", args.max_batch), ("batching off", 1)):
        server, url = start_server(args, max_batch)
        try:
            result = asyncio.run(load(url, args.sessions, args.seconds, args.seed))
            result["mean_batch"] = batch_sizes(url)
        finally:
            server.terminate()
            server.wait(timeout=30)
        rows.append((name, max_batch, result))
        print(name, result, flush=True)
    from confab.precision import choose, machine

    print(f"\n{args.sessions} sessions, {args.seconds:.0f} s each, model {args.model.name}, precision "
          f"{choose(args.precision or 'auto')}\n{machine()}\n")  # fmt: skip
    print("| setting | max batch | replies | replies/s | p50 ms | p99 ms | mean batch | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, max_batch, r in rows:
        print(f"| {name} | {max_batch} | {r['replies']} | {r['per_s']:.2f} | {r['p50']:.0f} | {r['p99']:.0f} | "
              f"{r['mean_batch']} | {r['errors']} |")  # fmt: skip
    on, off = rows[0][2]["per_s"], rows[1][2]["per_s"]
    print(f"\nthroughput with batching / without: {on / off:.2f}x")


if __name__ == "__main__":
    main()
