"""Run by tests/test_retrieval.py under torchrun (2 processes, gloo) and as one process: a retrieval model."""

import sys

import torch

from confab.retrieval.model import RankerConfig
from confab.retrieval.train import RetrievalRun, train_retrieval
from confab.training import TrainConfig

torch.set_num_threads(1)
data, out = sys.argv[1:3]
streamed = sys.argv[3:] == ["stream"]  # read the split from disk, a share per process
run = RetrievalRun(ranker=RankerConfig(encoder="transformer", layers=1, heads=2, dropout=0.0, use_persona=True),
                   train=TrainConfig(epochs=2 if streamed else 1, batch_size=32, lr=1e-3, optimizer="adam",
                                     precision="float32"),  # compared to float tolerance
                   max_train=None if streamed else 320, max_valid=20, stream=streamed)  # fmt: skip
train_retrieval(data, run, out)
