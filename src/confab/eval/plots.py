"""Plots people would rather look at than read: training curves (matplotlib, written as PNG)."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display needed
import matplotlib.pyplot as plt  # noqa: E402

from confab.io import atomic_path  # noqa: E402


def training_curves(steps_csv: Path, epochs_csv: Path, out: Path, metric: str) -> Path:
    """Training loss by step and the validation `metric` by epoch, side by side."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
    steps = _rows(steps_csv)
    if steps:
        left.plot([int(r["step"]) for r in steps], [float(r["loss"]) for r in steps], lw=1)
    left.set(xlabel="step", ylabel="training loss", title="training loss")
    epochs = [r for r in _rows(epochs_csv) if r.get(f"valid_{metric}")]
    if epochs:
        right.plot([int(r["epoch"]) for r in epochs], [float(r[f"valid_{metric}"]) for r in epochs], marker="o")
    right.set(xlabel="epoch", ylabel=metric, title=f"validation {metric}")
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return out


def _rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))
