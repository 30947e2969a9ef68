"""Fine-tuning speed of the pretrained encoder: confab's training step against sentence-transformers' own trainer
(SentenceTransformerTrainer with MultipleNegativesRankingLoss, the same in-batch softmax), on the same
(context, response) pairs, batch size and sequence length, in the same run.

    .venv/bin/pip install -e '.[bench]'
    python benchmarks/pretrained_speed.py --data DATASET_DIR [--batch-size 32] [--steps 30] [--precision P]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from confab.bundled import pretrained_folder
from confab.data.schema import read_split
from confab.precision import PRECISIONS, Precision, choose, machine
from confab.retrieval import checkpoint
from confab.retrieval.batches import training_batch
from confab.retrieval.model import RankerConfig
from confab.retrieval.tokens import PretrainedTokenizer, join_turns
from confab.training import TrainConfig, make_optimizer


def ours(rows: list[dict], batch: int, steps: int, precision: Precision, max_len: int) -> float:
    tok = PretrainedTokenizer(pretrained_folder())
    # the context as one flat text, as the peer reads it
    config = RankerConfig(encoder="pretrained", use_persona=False, vocab_size=len(tok), max_context_tokens=max_len,
                          max_response_tokens=max_len, context="flat", context_turns=None)  # fmt: skip
    model = checkpoint.new_model(config).train()
    optimizer = make_optimizer(model, TrainConfig(optimizer="adamw", lr=5e-5))  # as `confab train retrieval`
    start = None
    for step in range(steps + 2):
        if step == 2:  # the first steps warm up allocators and kernels
            start = time.perf_counter()
        b = training_batch(rows[step * batch : (step + 1) * batch], tok, config)
        with precision.autocast():
            loss = model(b)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return steps * batch / (time.perf_counter() - start)


def theirs(rows: list[dict], batch: int, steps: int, precision: Precision, max_len: int) -> float:
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
        losses,
    )

    model = SentenceTransformer(str(pretrained_folder()), device="cpu")
    model.max_seq_length = max_len
    timed = rows[2 * batch : (steps + 2) * batch]
    data = Dataset.from_dict({"anchor": [join_turns(r["context"]) for r in timed],
                              "positive": [r["response"] for r in timed]})  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        args = SentenceTransformerTrainingArguments(
            output_dir=tmp, per_device_train_batch_size=batch, num_train_epochs=1, learning_rate=5e-5,
            bf16=precision.reduced,
            use_cpu=True, save_strategy="no", report_to=[], logging_steps=10_000, dataloader_drop_last=True,
        )  # fmt: skip
        trainer = SentenceTransformerTrainer(
            model=model, args=args, train_dataset=data, loss=losses.MultipleNegativesRankingLoss(model)
        )
        start = time.perf_counter()
        trainer.train()
        return steps * batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--max-len", type=int, default=128)
    parser.add_argument("--precision", default="auto", choices=PRECISIONS, help="both trainers")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    rows = read_split(args.data, "train").to_pylist()
    need = (args.steps + 2) * args.batch_size
    if len(rows) < need:
        raise SystemExit(f"{args.data}: {len(rows)} training examples, {need} needed")
    precision = choose(args.precision)
    a = ours(rows, args.batch_size, args.steps, precision, args.max_len)
    b = theirs(rows, args.batch_size, args.steps, precision, args.max_len)
    print(f"\nFine-tuning all-MiniLM-L6-v2, batch {args.batch_size}, {args.steps} steps, max length {args.max_len}, "
          f"precision {precision}\n{machine()}\n")  # fmt: skip
    print("| trainer | examples/s |")
    print("|---|---:|")
    print(f"| confab | {a:.1f} |")
    print(f"| sentence-transformers | {b:.1f} |")
    print(f"\nconfab / sentence-transformers: {a / b:.2f}x")


if __name__ == "__main__":
    main()
