"""PLATO-2 speed against Hugging Face GPT-2 of the same shape (layers, width, heads, feed-forward, vocabulary),
in the same run: training tokens/s, and the latency of one full reply.

    .venv/bin/python benchmarks/plato_speed.py train [--config small] [--batch 16] [--length 128] [--precision P]
    .venv/bin/python benchmarks/plato_speed.py reply --generator GEN_CKPT --evaluator EVAL_CKPT [--precision P]

`train`: Adam steps of the stage-1 objective (NLL of a 64-token response after a 64-token context, at the default
length) against `GPT2LMHeadModel` trained on the same tokens with the same loss (context labels -100). Both see
full-width batches of random token ids (speed does not depend on the text).

`reply`: `PlatoAgent.respond` (K = 20 candidates, one per latent z, each of exactly 20 tokens after a 64-token
context, top-k 10 sampling with 3-gram blocking, then ranked by the evaluation model) against GPT-2's
`generate(num_return_sequences=20)` with its key/value cache and the same sampling, 20 new tokens, both models in
the agent's precision (`--precision`, default auto: bfloat16 on CPUs with bfloat16 matrix units). `train` runs
both models under the same policy (`--precision`, as `confab train`).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from confab.generation.batches import Sequence, collate
from confab.generation.limits import Limits
from confab.generation.model import Generator
from confab.generation.stages import Generation
from confab.precision import PRECISIONS, choose, machine
from confab.transformer.model import SIZES, PlatoConfig


def gpt2(config: PlatoConfig):
    from transformers import GPT2Config, GPT2LMHeadModel

    return GPT2LMHeadModel(GPT2Config(
        vocab_size=config.vocab_size, n_positions=config.max_positions, n_embd=config.hidden, n_layer=config.layers,
        n_head=config.heads, n_inner=config.ffn, resid_pdrop=config.dropout, embd_pdrop=config.dropout,
        attn_pdrop=config.dropout, attn_implementation="sdpa",
    ))  # fmt: skip


def timed_steps(step, steps: int) -> float:
    for _ in range(3):  # warm-up: allocator, kernels
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return time.perf_counter() - start


def train(args) -> None:
    config = PlatoConfig(vocab_size=args.vocab, dropout=args.dropout, **SIZES[args.config])
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(8, args.vocab, (args.batch, args.length), generator=g)
    prefix = args.length // 2
    roles = [1] * prefix + [0] * (args.length - prefix)  # context from the partner, then the response
    seqs = [Sequence(row.tolist(), roles, roles, prefix) for row in tokens]
    batch = collate(seqs)
    labels = tokens.clone()
    labels[:, :prefix] = -100  # the same loss: the response given the context

    precision = choose(args.precision)

    def runner(model, loss_of):
        optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)

        def step():
            with precision.autocast():
                loss = loss_of()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        return step

    ours_model = Generator(config).train()
    objective = Generation(ours_model)
    theirs_model = gpt2(config).train()
    ours = runner(ours_model, lambda: objective(batch))
    theirs = runner(theirs_model, lambda: theirs_model(input_ids=tokens, labels=labels).loss)
    rows = []
    for _ in range(args.repeats):  # interleaved, so both see the same machine load
        rows.append((timed_steps(ours, args.steps), timed_steps(theirs, args.steps)))
    n = args.steps * args.batch * args.length
    a = n / statistics.median(r[0] for r in rows)
    b = n / statistics.median(r[1] for r in rows)
    print(f"\nTraining, config {args.config} (vocab {args.vocab}), batch {args.batch} x {args.length} tokens, "
          f"{args.steps} steps x {args.repeats} interleaved repeats, precision {precision}\n{machine()}\n")  # fmt: skip
    print("| model | parameters | tokens/s (median) |")
    print("|---|---:|---:|")
    print(f"| confab Generator (stage 1) | {ours_model.parameter_count():,} | {a:,.0f} |")
    print(f"| transformers GPT2LMHeadModel | {sum(p.numel() for p in theirs_model.parameters()):,} | {b:,.0f} |")
    print(f"\nconfab / GPT-2: {a / b:.2f}x")


def reply(args) -> None:
    from confab.generation.agent import PlatoAgent
    from confab.generation.decode import DecodeConfig

    decode = DecodeConfig(strategy="sampling", top_k=10, top_p=1.0, min_length=args.new_tokens,
                          max_length=args.new_tokens, no_repeat_ngram=3, seed=0)  # fmt: skip
    agent = PlatoAgent(args.generator, args.evaluator, decode=decode, candidates=20, precision=args.precision)
    agent.limits = Limits(max_context=args.context, max_persona=0, max_response=agent.limits.max_response)
    history = [" ".join(["we went hiking in the mountains near the lake last summer and it was lovely"] * 8)]
    prefix_len = len(agent.tok.encode(history[0])) + 2  # + [EOS] of the turn, the slot and [BOS] - 1
    model = gpt2(agent.model.config).eval().to(agent.model.tokens.weight.dtype)  # the same precision
    context = torch.randint(8, agent.model.config.vocab_size, (1, args.context))

    def theirs():
        with torch.no_grad():
            model.generate(context, attention_mask=torch.ones_like(context), do_sample=True, top_k=10,
                           max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens, num_return_sequences=20,
                           no_repeat_ngram_size=3, use_cache=True, pad_token_id=0)  # fmt: skip

    def ours():
        agent.respond(history, [])

    times: dict[str, list[float]] = {"ours": [], "theirs": []}
    for f in (ours, theirs):
        f()  # warm-up
    for _ in range(args.runs):  # interleaved
        for name, f in (("ours", ours), ("theirs", theirs)):
            start = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - start)

    def p(name, q):
        return statistics.quantiles(times[name], n=100)[q - 1] * 1000

    print(f"\nOne reply: 20 candidates x {args.new_tokens} tokens after a {min(prefix_len, args.context)}-token "
          f"context (GPT-2: {args.context}), {args.runs} runs interleaved, {agent.model.tokens.weight.dtype}\n"
          f"{machine()}\n")  # fmt: skip
    print("| system | p50 ms | p90 ms |")
    print("|---|---:|---:|")
    print(f"| confab PlatoAgent.respond (generate + evaluator ranking) | {p('ours', 50):.1f} | {p('ours', 90):.1f} |")
    print(f"| GPT2LMHeadModel.generate(num_return_sequences=20) | {p('theirs', 50):.1f} | {p('theirs', 90):.1f} |")
    print(f"\nGPT-2 / confab (p50): {p('theirs', 50) / p('ours', 50):.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train")
    t.add_argument("--config", default="small", choices=sorted(SIZES))
    t.add_argument("--vocab", type=int, default=8000)
    t.add_argument("--batch", type=int, default=16)
    t.add_argument("--length", type=int, default=128)
    t.add_argument("--steps", type=int, default=5)
    t.add_argument("--repeats", type=int, default=3)
    t.add_argument("--dropout", type=float, default=0.1)
    t.add_argument("--precision", default="auto", choices=PRECISIONS, help="as `confab train --precision`")
    r = sub.add_parser("reply")
    r.add_argument("--generator", required=True)
    r.add_argument("--evaluator", required=True)
    r.add_argument("--context", type=int, default=64)
    r.add_argument("--new-tokens", type=int, default=20)
    r.add_argument("--runs", type=int, default=30)
    r.add_argument("--precision", default="auto", choices=PRECISIONS, help="both models")
    args = parser.parse_args()
    {"train": train, "reply": reply}[args.command](args)


if __name__ == "__main__":
    main()
