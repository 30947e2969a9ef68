"""Plots people would rather look at than read: training curves, latent usage and metric comparisons
(matplotlib, written as PNG)."""

from __future__ import annotations

import csv
import textwrap
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
    return _save(fig, out)


def latent_usage(usage: dict, out: Path, title: str = "latent usage") -> Path:
    """The share of chosen replies per latent value z: a model that uses its K latents spreads its bars."""
    fig, ax = plt.subplots(figsize=(6, 3))
    values = sorted(usage, key=int)
    ax.bar([str(z) for z in values], [usage[z] for z in values], color="tab:blue")
    ax.set(xlabel="latent value z", ylabel="share of replies", title=title)
    return _save(fig, out)


def metric_bars(values: dict[str, dict[str, float]], out: Path, title: str) -> Path:
    """Grouped bars: one group per metric, one bar per model (values[model][metric])."""
    models = list(values)
    metrics = list(dict.fromkeys(m for v in values.values() for m in v))
    width = 0.8 / max(1, len(models))
    fig, ax = plt.subplots(figsize=(max(6, 0.7 * len(metrics) * max(1, len(models))), 4))
    for i, model in enumerate(models):
        xs = [j + (i - (len(models) - 1) / 2) * width for j in range(len(metrics))]
        ax.bar(xs, [values[model].get(m, 0.0) for m in metrics], width, label=model)
    ax.set_xticks(range(len(metrics)), metrics)
    ax.set_title(textwrap.fill(title, 70), fontsize="medium")
    ax.legend(fontsize="small")
    return _save(fig, out)


def _save(fig, out: Path) -> Path:
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
