"""float32 against bfloat16 on this CPU, and what `--precision auto` picks: the figures behind confab's precision
policy (`confab.precision`), each precision timed in the same run.

    .venv/bin/python benchmarks/precision_speed.py [--steps 5] [--replies 3]

Rows: one matrix multiply (4096x384 @ 384x1536, one thread, as the issue that introduced the policy measured it);
`nn.Linear(384, 1536)` forward and backward on 4,096 rows, under autocast or not (one thread); a training step of
each trainer on two cores (the retrieval agent of the demo: all-MiniLM-L6-v2, top two layers tuned, 64 PERSONA-CHAT
examples a batch; PLATO-2 stage 1 from that encoder, 4,096 tokens a step); a reply of `bundled:plato2` (20
candidates, ranked). On a CPU without bfloat16 units bfloat16 is emulated: expect it 20-50x slower there, and
`auto` to pick float32. To see that on a CPU that has the units, cap the libraries as such a CPU runs them:

    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 \
        .venv/bin/python benchmarks/precision_speed.py
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from confab.precision import Precision, choose, machine


def best_of(run: Callable[[], None], repeats: int) -> float:
    """Seconds of the fastest of `repeats` runs, after one warm-up run."""
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def matmul(precision: Precision) -> tuple[float, str]:
    g = torch.Generator().manual_seed(0)
    a = torch.randn(4096, 384, generator=g).to(precision.dtype)
    b = torch.randn(384, 1536, generator=g).to(precision.dtype)
    seconds = best_of(lambda: a @ b, 3)
    return 2 * 4096 * 384 * 1536 / seconds / 1e9, "GFLOP/s"


def linear(precision: Precision) -> tuple[float, str]:
    layer, x = torch.nn.Linear(384, 1536), torch.randn(4096, 384)

    def step():
        with precision.autocast():
            layer(x).sum().backward()

    return 1000 * best_of(step, 2), "ms"


def retrieval_step(precision: Precision, steps: int) -> tuple[float, str]:
    from confab.bundled import pretrained_folder
    from confab.data.examples import examples_from_file
    from confab.resources import resource_path
    from confab.retrieval import checkpoint
    from confab.retrieval.batches import training_batch
    from confab.retrieval.model import RankerConfig
    from confab.retrieval.tokens import PretrainedTokenizer
    from confab.training import TrainConfig, make_optimizer

    rows = examples_from_file(resource_path("samples/knover_example_train.tsv.gz"), "knover", kind="paths")
    tok = PretrainedTokenizer(pretrained_folder())
    config = RankerConfig(**checkpoint.ZERO_SHOT_RANKER, tuned_layers=2, vocab_size=len(tok))
    model = checkpoint.new_model(config).train()
    optimizer = make_optimizer(model, TrainConfig(optimizer="adamw", lr=1e-4))
    batches = [training_batch(rows[i * 64 : (i + 1) * 64], tok, config) for i in range(steps)]

    def run():
        for b in batches:
            with precision.autocast():
                loss = model(b)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    return steps * 64 / best_of(run, 1), "examples/s"


def plato_step(precision: Precision, steps: int) -> tuple[float, str]:
    import numpy as np

    from confab.data.examples import examples_from_file
    from confab.generation.data import BatchConfig, encode, plan
    from confab.generation.limits import Limits
    from confab.generation.pretrained import from_encoder
    from confab.generation.stages import Generation
    from confab.resources import resource_path
    from confab.training import TrainConfig, make_optimizer

    rows = examples_from_file(resource_path("samples/knover_example_train.tsv.gz"), "knover", kind="paths")
    model, tok, _ = from_encoder("bundled:minilm", dropout=0.1)
    model.tokens.requires_grad_(False)
    objective = Generation(model).train()
    optimizer = make_optimizer(objective, TrainConfig(optimizer="adam", lr=1e-4))
    seqs = encode(rows[:400], tok, Limits(max_context=128, max_persona=64, max_response=40))
    chosen = plan([len(s.tokens) for s in seqs], BatchConfig(max_tokens=4096, tokens_per_step=4096), 0, 0)[:steps]
    batches = [objective.step(seqs, step, tok, np.random.default_rng(i)) for i, step in enumerate(chosen)]
    tokens = sum(int(m["length"].sum()) for step in batches for m in step)

    def run():
        for step in batches:
            optimizer.zero_grad()
            for m in step:
                with precision.autocast():
                    loss = objective(m) * m.get("weight", 1.0)
                loss.backward()
            optimizer.step()

    return tokens / best_of(run, 1), "tokens/s"


def reply(precision: Precision, replies: int) -> tuple[float, str]:
    from confab.agents import load_agent

    agent = load_agent("bundled:plato2", precision=precision.name)
    seconds = []
    for i in range(replies + 1):
        torch.manual_seed(i)
        start = time.perf_counter()
        agent.respond(["hi ! what do you like to do on weekends ?"], ["i have two dogs ."])
        if i:  # the first warms up
            seconds.append(time.perf_counter() - start)
    return 1000 * statistics.median(seconds), "ms (p50)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=5, help="training steps timed per trainer and precision")
    parser.add_argument("--replies", type=int, default=3)
    args = parser.parse_args()
    threads = torch.get_num_threads()
    cases = [("matmul 4096x384 @ 384x1536, 1 thread", matmul, True),
             ("nn.Linear(384, 1536) forward + backward, 4,096 rows, 1 thread", linear, True),
             ("retrieval training step (MiniLM, 2 layers tuned, batch 64)", lambda p: retrieval_step(p, args.steps),
              False),
             ("PLATO-2 stage 1 step from MiniLM (4,096 tokens)", lambda p: plato_step(p, args.steps), False),
             ("bundled:plato2 reply (20 candidates)", lambda p: reply(p, args.replies), False)]  # fmt: skip
    precisions = [choose("float32"), choose("bfloat16")]
    higher = {"GFLOP/s", "examples/s", "tokens/s"}
    auto = choose("auto")
    print(f"\n{machine()}\n")
    print("| what | float32 | bfloat16 | unit | bfloat16 / float32 speed | auto picks | auto's is the faster |")
    print("|---|---:|---:|---|---:|---|---|")
    for name, measure, one_thread in cases:
        torch.set_num_threads(1 if one_thread else threads)
        (f32, unit), (bf16, _) = (measure(p) for p in precisions)
        speed = bf16 / f32 if unit in higher else f32 / bf16
        faster = "bfloat16" if speed > 1 else "float32"
        print(f"| {name} | {f32:,.1f} | {bf16:,.1f} | {unit} | {speed:.2f}× | {auto.name} | "
              f"{'yes' if faster == auto.name else 'no'} |", flush=True)  # fmt: skip
    torch.set_num_threads(threads)


if __name__ == "__main__":
    main()
