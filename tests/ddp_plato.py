"""Run by tests/test_generation.py under torchrun (2 processes, gloo) and as one process: one PLATO-2 stage."""

import sys

import torch

from confab.generation.data import BatchConfig
from confab.generation.limits import Limits
from confab.generation.train import PlatoRun, train_plato
from confab.training import TrainConfig

torch.set_num_threads(1)
data, out, bpe = sys.argv[1:4]
streamed = "stream" in sys.argv[4:]  # read the split from disk, a share per process
# what each process holds: the whole model, 1/N of the optimizer state (zero) or of everything (fsdp)
strategy = next((s for s in ("zero", "fsdp") if s in sys.argv[4:]), "ddp")
resumable = "resumable" in sys.argv[4:]  # two epochs with a resume point every 2 steps, to be killed
train = TrainConfig(
    epochs=2 if streamed or resumable else 1, lr=2e-3, optimizer="adam", warmup_steps=3, schedule="inverse_sqrt",
    strategy=strategy, save_every=2 if resumable else 200,
    precision="float32",  # one process and two must agree to float tolerance: no bfloat16 rounding
)  # fmt: skip
run = PlatoRun(stage="1", size="tiny", tokenizer=bpe, dropout=0.0, limits=Limits(32, 8, 16), train=train,
               max_train=None if streamed else 200, max_valid=20, stream=streamed,
               batch=BatchConfig(max_tokens=256, tokens_per_step=2048))  # fmt: skip
train_plato(data, run, out)
