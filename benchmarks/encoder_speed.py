"""The pretrained sentence encoder two ways, on the same token batches: Hugging Face's BertModel (what the retrieval
family ran) and confab's transformer with the same weights under a bidirectional mask (`transformer.bert`). Which
of the two both families should share was decided by this table: the transformer, which both now run.

For each precision (float32, and bfloat16 where the CPU has the units): milliseconds per batch for inference
(no_grad) and for a training step of the top two layers (forward, backward), p50 of several runs, and the ratio
unified / Hugging Face (below 1: the unified transformer is faster). The outputs are checked equal first.

    .venv/bin/python benchmarks/encoder_speed.py [--batch 64] [--length 48] [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from confab.bundled import pretrained_folder
from confab.generation.batches import prefix_lm_mask
from confab.precision import choose, machine
from confab.transformer.bert import load_encoder
from confab.transformer.model import ROLE_PARTNER


def batch(vocab: int, rows: int, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, vocab, (rows, length), generator=g)
    lengths = torch.randint(length // 2, length + 1, (rows,), generator=g)
    mask = torch.arange(length)[None] < lengths[:, None]
    return ids.masked_fill(~mask, 0), mask


def step(run, precision, inference: bool) -> None:
    """One pass: inference without gradients, or a training step's forward and backward."""
    if inference:
        with torch.no_grad(), precision.autocast():
            run()
        return
    with precision.autocast():
        out = run()
    out.float().pow(2).mean().backward()


def timed(step, runs: int) -> float:
    step()  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--length", type=int, default=48)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    torch.manual_seed(0)
    from transformers import AutoModel  # the peer: Hugging Face's BertModel, loaded offline

    hf = AutoModel.from_pretrained(str(pretrained_folder()), local_files_only=True).eval()
    unified = load_encoder("bundled:minilm", dropout=0.0).eval()
    ids, mask = batch(hf.config.vocab_size, args.batch, args.length)
    length = ids.size(1)
    inputs = {"tokens": ids, "roles": torch.full_like(ids, ROLE_PARTNER), "turns": torch.zeros_like(ids),
              "positions": torch.arange(length).expand_as(ids)}  # fmt: skip
    attend = prefix_lm_mask(torch.full((len(ids),), length), mask.sum(1), length, causal=False)

    def run_hf():
        return hf(input_ids=ids, attention_mask=mask.long()).last_hidden_state

    def run_unified():
        return unified(inputs, attend)

    with torch.no_grad():
        a, b = run_hf(), run_unified()
        difference = float((a - b)[mask].abs().max())
    assert difference < 1e-4, difference

    precisions = ["float32"] + (["bfloat16"] if choose("auto").dtype == torch.bfloat16 else [])
    print(f"\n{machine()}\n\nall-MiniLM-L6-v2, {args.batch} sequences of up to {length} tokens, p50 of "
          f"{args.runs} runs (outputs equal within {difference:.1e})\n")
    print("| precision | pass | Hugging Face ms | unified ms | unified / HF |")
    print("|---|---|---:|---:|---:|")
    for name in precisions:
        precision = choose(name)
        for model, layers in ((hf, hf.encoder.layer), (unified, unified.blocks)):
            model.requires_grad_(False)
            for layer in layers[-2:]:
                layer.requires_grad_(True)
        rows = []
        for what in ("inference", "training step, top 2 layers"):
            ms = []
            for run in (run_hf, run_unified):
                ms.append(timed(lambda run=run, p=precision, w=what: step(run, p, w == "inference"), args.runs))
            rows.append((what, *ms))
        for what, h, u in rows:
            print(f"| {name} | {what} | {h:.1f} | {u:.1f} | {u / h:.2f} |", flush=True)


if __name__ == "__main__":
    main()
