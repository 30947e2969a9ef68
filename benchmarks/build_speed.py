"""Dataset build throughput and peak memory on the real Reddit month, replicated with texts that differ
(benchmarks/replicate.py: 3,666 comments a copy, so 273 copies are 1M comments).

    python benchmarks/build_speed.py [--copies 1 10] [--persona rules]

For each size it runs, each in a fresh process: the whole build, and a peer that only decompresses and
parses the same dump (json.loads per line), so speed is read as a ratio that survives a noisy machine. Peak
memory (max RSS of the child) is compared across sizes: with partitions sized by --partition-mb, it should stay flat as
the input grows. (Children are started by a small parent: Linux carries the parent's peak RSS at fork into the
child's.) A last table compares tagging every sentence with spaCy against tagging only the sentences
that pass the cheap rules first, as the build does.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MONTH = HERE.parents[1] / "shared" / "data" / "reddit" / "RC_2006-01.zst"


class Sampler:
    """The peak resident memory of this process and of all its children together, per stage of the build (the
    progress bars name the stages), sampled every 0.2 s."""

    def __init__(self):
        import psutil

        self.me, self.stage, self.peaks = psutil.Process(), "start", {}
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def progress(self, label: str, total: int | None = None):
        self.stage = label.split(" (")[0]
        return lambda done: None

    def _run(self) -> None:
        while not self.stopped.wait(0.2):
            children = 0
            for child in self.me.children(recursive=True):
                with contextlib.suppress(Exception):  # ended meanwhile
                    children += child.memory_info().rss
            parent, peak = self.me.memory_info().rss, self.peaks.setdefault(self.stage, [0, 0])
            peak[0], peak[1] = max(peak[0], parent >> 20), max(peak[1], children >> 20)

    def stop(self) -> dict:
        self.stopped.set()
        self.thread.join()
        return self.peaks


def child_build(src: str, out: str, persona: str, partition_mb: float, skip: str, processes: int, asked: str) -> dict:
    from confab.data.build import Build, BuildConfig
    from confab.data.clean import CleanConfig

    if asked:
        record_asked(Path(asked))
    start = time.perf_counter()
    config = BuildConfig(inputs=[src], persona=persona, partition_mb=partition_mb,
                         clean=CleanConfig(skip=[r for r in skip.split(",") if r]))  # fmt: skip
    sampler = Sampler()
    report = Build(config, out, progress=sampler.progress, processes=processes).run()
    return {
        "memory_by_stage": sampler.stop(),
        "seconds": time.perf_counter() - start,
        "stages": report["seconds"],
        "comments": sum(report["read"]["records"].values()),
        "examples": report["examples"]["total"],
        "partitions": report["partitions"],
        "dropped": report["cleaning"]["dropped"],
        "tagging": report.get("tagging"),
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        # the largest of the build's processes (they are shut down, so counted, when the build returns)
        "worker_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


def record_asked(path: Path) -> None:
    """Every sentence the build's tagger is asked, a JSON string a line in `path` (a file, so that the build's
    memory does not grow with it), for tagging them again alone."""
    from confab.data import persona

    call, out = persona.PosFilter.__call__, open(path, "w", encoding="utf-8")  # noqa: SIM115 - open to the end

    def asked(self, texts: list[str]) -> list[bool]:
        out.writelines(json.dumps(t) + "\n" for t in texts)
        out.flush()
        return call(self, texts)

    persona.PosFilter.__call__ = asked


def child_tag_alone(path: str) -> dict:
    """spaCy alone on the distinct sentences a build asked its tagger, on the build's processes (one per core):
    the pace a build with every other stage hidden behind the tagging would keep."""
    from confab.data import persona

    with open(path, encoding="utf-8") as f:
        sentences = list(dict.fromkeys(json.loads(line) for line in f))
    cores = len(os.sched_getaffinity(0))
    start = time.perf_counter()
    with persona.PosFilter(helpers=cores, cache=0) as tagger:
        # every process's pipeline loaded and warm, on sentences of its own
        tagger([f"i have {i} cups of warm tea ." for i in range(persona.PARALLEL_FROM * cores)])
        loaded = time.perf_counter()
        for i in range(0, len(sentences), 20_000):
            tagger(sentences[i : i + 20_000])
        return {"sentences": len(sentences), "seconds": time.perf_counter() - loaded, "load": loaded - start,
                "processes": cores}  # fmt: skip


def child_parse(src: str) -> dict:
    from confab.data.records import Problems
    from confab.data.sources.lines import iter_lines

    start = time.perf_counter()
    n = sum(1 for _, line in iter_lines(Path(src), Problems()) if json.loads(line))
    return {"seconds": time.perf_counter() - start, "comments": n}


def child_tagging(src: str) -> dict:
    from confab.data import persona
    from confab.data.records import Problems
    from confab.data.sources import pushshift
    from confab.text import tokenize, truncate_tokens

    texts = [truncate_tokens(m.text, 100) for m in pushshift.read(Path(src), "x", Problems())]
    sentences = [s for t in texts for s in persona.sentences(t)]
    cheap = [s for s in sentences if persona.cheap_rules_ok(tokenize(s))]
    tagger = persona.PosFilter(cache=0)  # each sentence tagged as often as it is asked
    tagger(["warm up the pipeline ."])
    out = {"sentences": len(sentences), "cheap_pass": len(cheap), "cheap_distinct": len(set(cheap))}
    for name, batch in (("all", sentences), ("cheap_first", cheap)):
        start = time.perf_counter()
        kept = sum(tagger(batch))
        out[f"{name}_seconds"] = time.perf_counter() - start
        out[f"{name}_kept"] = kept
    return out


def child_replicate(src: str, dest: str, copies: int) -> dict:
    sys.path.insert(0, str(HERE))
    from replicate import replicate

    return {"lines": replicate(Path(src), Path(dest), copies)}


def run_child(*args: str) -> dict:
    result = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--persona", default="rules")
    parser.add_argument("--partition-mb", type=float, default=2.0)
    parser.add_argument("--skip-rule", action="append", default=[], help="a cleaning rule to turn off")
    parser.add_argument("--processes", type=int, default=0, help="the build's processes (0: one per core)")
    parser.add_argument("--child", nargs="+")
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        result = {
            "build": lambda: child_build(rest[0], rest[1], rest[2], float(rest[3]), rest[4], int(rest[5]), rest[6]),
            "tag_alone": lambda: child_tag_alone(rest[0]),
            "parse": lambda: child_parse(rest[0]),
            "tagging": lambda: child_tagging(rest[0]),
            "replicate": lambda: child_replicate(rest[0], rest[1], int(rest[2])),
        }[kind]()
        print(json.dumps(result))
        return
    if not MONTH.exists():
        sys.exit(f"needs the real month at {MONTH}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for copies in args.copies:
            src = Path(tmp) / f"RC_2006-01_x{copies}.zst"
            run_child("replicate", str(MONTH), str(src), str(copies))
            for partition_mb in sorted({128.0, args.partition_mb}, reverse=True):
                out = Path(tmp) / f"out-{copies}-{partition_mb}"
                asked = Path(tmp) / f"asked-{copies}-{partition_mb}.jsonl" if args.persona.startswith("rules") else ""
                build = run_child("build", str(src), str(out), args.persona, str(partition_mb),
                                  ",".join(args.skip_rule), str(args.processes), str(asked))  # fmt: skip
                if asked:
                    build["alone"] = run_child("tag_alone", str(asked))
                    asked.unlink()
                parse = run_child("parse", str(src))
                rows.append((copies, partition_mb, build, parse))
        tagging = run_child("tagging", str(MONTH))

    skipped = f", rules off: {', '.join(args.skip_rule)}" if args.skip_rule else ""
    processes = args.processes or len(os.sched_getaffinity(0))
    from confab.precision import machine

    print(
        f"\nBuild of RC_2006-01 replicated (persona setup: {args.persona}{skipped}, {processes} processes)\n"
        f"{machine()}\n"
    )
    print(
        "| copies | comments | partition MB | partitions | build s | comments/s | parse-only comments/s "
        "| build/parse | peak RSS MB (build / largest worker) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for copies, mb, b, p in rows:
        rate, peer = b["comments"] / b["seconds"], p["comments"] / p["seconds"]
        print(
            f"| {copies} | {b['comments']:,} | {mb:g} | {b['partitions']} | {b['seconds']:.1f} | {rate:,.0f} "
            f"| {peer:,.0f} | {peer / rate:.2f}× slower | {b['max_rss_mb']:.0f} / {b['worker_rss_mb']:.0f} |"
        )
    print("\nPer stage, comments per second (largest input, small partitions)\n")
    copies, mb, b, _ = [r for r in rows if r[1] == args.partition_mb][-1]
    print("| stage | seconds | comments/s |")
    print("|---|---:|---:|")
    for stage, seconds in b["stages"].items():
        print(f"| {stage} | {seconds:.2f} | {b['comments'] / max(seconds, 1e-9):,.0f} |")
    for small in sorted({128.0, args.partition_mb}, reverse=True):
        sizes = [r for r in rows if r[1] == small]
        if len(sizes) >= 2:
            peak = [r[2]["max_rss_mb"] + r[2]["worker_rss_mb"] for r in (sizes[-1], sizes[0])]
            ratio = peak[0] / peak[1]
            print(f"\nPeak memory, {sizes[-1][0]}× input vs {sizes[0][0]}× with partition MB {small:g}: {ratio:.2f}×")
    tagged = [(c, b) for c, mb, b, _ in rows if b.get("tagging")]
    if tagged:
        print("\nspaCy and the build: the tagger's seconds inside the build, and spaCy alone on the same distinct")
        print("sentences on as many processes, its pipelines loaded before the clock starts and with their")
        print("loading (the build's throughput over tagging alone's: 1.0 would be every other stage hidden behind the")
        print("tagging)\n")
        print("| copies | sentences asked | tagged in the build | tagger s in the build | distinct | tagging alone s "
              "| spaCy load s | build s | build / tagging alone | the same, load counted |")  # fmt: skip
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for c, b in tagged:
            t, alone = b["tagging"], b["alone"]
            loaded = alone["seconds"] + alone["load"]
            print(f"| {c} | {t['sentences_asked']:,} | {t['sentences_tagged']:,} | {t['seconds']:.1f} "
                  f"| {alone['sentences']:,} | {alone['seconds']:.1f} | {alone['load']:.1f} | {b['seconds']:.1f} "
                  f"| {alone['seconds'] / b['seconds']:.2f}× | {loaded / b['seconds']:.2f}× |")  # fmt: skip
    print("\nPeak resident MB by stage, the build's process / all its processes together (sampled every 0.2 s)\n")
    shown_sizes = [(c, b) for c, mb, b, _ in rows if mb == args.partition_mb]
    print("| stage | " + " | ".join(f"{c} copies" for c, _ in shown_sizes) + " |")
    print("|---|" + "---:|" * len(shown_sizes))
    for stage in shown_sizes[-1][1]["memory_by_stage"]:
        cells = [b["memory_by_stage"].get(stage, [0, 0]) for _, b in shown_sizes]
        print(f"| {stage} | " + " | ".join(f"{a} / {a + c}" for a, c in cells) + " |")
    print("\nShare of the comments each cleaning rule drops (the copies should keep the month's)\n")
    month = [r for r in rows if r[0] == 1]
    shown = [(f"{c} copies", b) for c, mb, b, _ in rows if mb == args.partition_mb]
    print("| rule | " + " | ".join(name for name, _ in shown) + " |")
    print("|---|" + "---:|" * len(shown))
    for rule in sorted({rule for _, b in shown for rule in b["dropped"]}):
        cells = [f"{100 * b['dropped'].get(rule, 0) / b['comments']:.2f}%" for _, b in shown]
        print(f"| {rule} | " + " | ".join(cells) + " |")
    if not month:
        print("(add --copies 1 for the month itself)")
    t = tagging
    print("\nPart-of-speech tagging on RC_2006-01 (one month, not replicated)\n")
    print("| sentences tagged | count | seconds | persona sentences kept |")
    print("|---|---:|---:|---:|")
    print(f"| every sentence | {t['sentences']:,} | {t['all_seconds']:.2f} | {t['all_kept']:,} (before I/my) |")
    print(f"| cheap rules first | {t['cheap_pass']:,} | {t['cheap_first_seconds']:.2f} | {t['cheap_first_kept']:,} |")
    print(f"\nCheap rules first tag {t['all_seconds'] / t['cheap_first_seconds']:.1f}× faster.")


if __name__ == "__main__":
    main()
