"""The small trained models that ship with confab, and how they are packed.

`bundled:plato2` is the PLATO-2 generator (stage 2.1) with its evaluation model (stage 2.2) ranking the
candidates; `bundled:retrieval` is the retrieval agent with its candidate index. Both were trained on the real
samples that ship with confab by `confab demo --budget full`, whose last step (`pack`) writes this folder:
weights stored in bfloat16 (half the size; inference runs in bfloat16 on CPUs with bfloat16 units anyway and
loads them into float32 elsewhere) and a model card per model written from its config and measured results.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from confab.checkpoints import from_json
from confab.generation.checkpoint import keep_changed
from confab.io import atomic_path, atomic_write_text
from confab.training import describe_result

ENCODERS = {"bundled:minilm": "all-MiniLM-L6-v2 (installed with confab, Apache-2.0)"}
# folder in the demo's output -> folder shipped
PACKED = {"plato-2.1": "plato2", "plato-2.2": "plato2-evaluator", "retrieval": "retrieval",
          "retrieval-index": "retrieval-index"}  # fmt: skip
SKIPPED = {".train", "chunks", "train_steps.csv"}  # resume state and index chunks: not needed to run
# the config files (resources/configs) each model was trained from, in order
RECIPES = {"plato2": ("shipped-plato-1", "shipped-plato-2.1"), "plato2-evaluator": ("shipped-plato-2.2",),
           "retrieval": ("shipped-retrieval",)}  # fmt: skip


def pack(models: Path, out: Path, measured: str, command: str, samples: list[tuple[str, str]] = (),
         only: Sequence[str] | None = None, data: str = "") -> Path:  # fmt: skip
    """Copy the demo's models into `out` in bfloat16, each with a model card quoting `data` (what they were trained
    on, markdown), `measured` (the demo's result tables, markdown) and, in the generator's, `samples` (question,
    reply) as the model answered them;
    `out/README.md` is written last. `only`: these shipped names alone (the others in `out` stay as they are)."""
    out.mkdir(parents=True, exist_ok=True)
    for source, name in PACKED.items():
        if only is not None and name not in only:
            continue
        target = out / name
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(models / source, target, ignore=shutil.ignore_patterns(*SKIPPED))
        for weights in target.glob("*.safetensors"):
            tensors = {k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in load_file(weights).items()}
            with atomic_path(weights) as tmp:
                save_file(tensors, str(tmp))
        if source.startswith("plato"):  # started from the installed encoder: only what training changed ships
            keep_changed(target)
        if (target / "config.json").exists():
            # the demo folder's paths as the card's command names it: nothing of the packing machine ships
            config = (target / "config.json").read_text()
            for folder in {str(models.parent.resolve()), str(models.parent)}:
                config = config.replace(f'"{folder}/', '"build/full/')
            atomic_write_text(target / "config.json", config)
            atomic_write_text(
                target / "README.md",
                model_card(name, target, measured, command, samples if name == "plato2" else (), data),
            )
    sizes = {name: sum(f.stat().st_size for f in (out / name).rglob("*") if f.is_file()) for name in PACKED.values()}
    lines = ["# Models that ship with confab", "", f"Made by `{command}`; see each folder's README.md.", ""]
    lines += [f"- `{name}`: {size / 1e6:.1f} MB" for name, size in sizes.items()]
    atomic_write_text(out / "README.md", "\n".join(lines) + "\n")
    return out


def model_card(name: str, folder: Path, measured: str, command: str, samples: list[tuple[str, str]] = (),
               data: str = "") -> str:  # fmt: skip
    meta = from_json(json.loads((folder / "config.json").read_text()), folder / "config.json")
    run, result = meta.run or {}, meta.extra.get("result", {})
    history = result.get("history", [])
    base = meta.base.encoder if meta.base else None
    start = (
        (
            f", started from {ENCODERS.get(base, base)} as UniLM and PLATO (v1) start from BERT; the encoder's word "
            "and position embeddings are kept as they are, so only the weights training changed are stored here "
            "and the rest is read from the installed encoder (its sha256 is checked)"
        )
        if base
        else ""
    )
    what = {
        "plato2": "PLATO-2 generator (stage 2.1: a discrete latent variable, K=20, gives 20 diverse candidates)"
        + start,
        "plato2-evaluator": "PLATO-2 evaluation model (stage 2.2: p(coherent | context, response), ranks candidates"
        + (
            "; it reads the last context turns and the response apart, in one pass, and scores the cosine of their "
            "mean states, as the sentence encoder it starts from was trained to)"
            if meta.config.get("coherence") == "dual"
            else ")"
        )
        + start,
        "retrieval": "persona-conditioned retrieval model (Mazaré et al. 2018): context + persona memory vs response; "
        "the encoder is all-MiniLM-L6-v2 (installed with confab, Apache-2.0) with its top two layers tuned, the "
        "only weights stored here. It reads the last two turns one by one and adds each candidate's best match "
        "with a persona sentence, as the untrained encoder `bundled:minilm` it starts from does (both are in the "
        "tables below)",
    }[name]
    use = {
        "plato2": '`confab chat` (the default model), `confab serve`, `load_agent("bundled:plato2")`',
        "plato2-evaluator": "ranks the generator's candidates in `bundled:plato2`",
        "retrieval": "`confab chat --agent bundled:retrieval`; it answers with the distinct responses of the "
        "training splits, indexed in `retrieval-index`",
    }[name]
    lines = [f"# {name}", "", what + ".", "", f"Use: {use}.", "", "## Data", "",
             data or "The real samples that ship in `confab/resources/samples` (see its README).", "",
             "## Config", "", *recipe_line(name), "```json",
             json.dumps({"model": meta.config, "run": run}, indent=1), "```",
             ""]  # fmt: skip
    if history:
        lines += ["## Training", "", f"{result.get('steps')} steps; validation at the start and after each epoch:",
                  "", "```", *describe_result(result), "```", ""]  # fmt: skip
    if samples:
        lines += ["## Replies", "", f"To {len(samples)} of the 200 Vinyals & Le questions (picked with seed 0, "
                  "unedited; no persona), as `confab chat` gives them:", ""]  # fmt: skip
        lines += [f"- **{q}** {r}" for q, r in samples] + [""]
    lines += ["## Measured", "", "By the same command, on the PERSONA-CHAT test split (100 examples) and "
              "DailyDialog++ dev, the other models of the run and the models shipped before it (when it ran) "
              "measured alongside:", "", measured, "",
              "## Reproduce", "", "```bash", command + " --out build/full    # then build/full/shipped", "```", "",
              "## Limits", "",
              "Small models trained for under two hours on two CPU cores with tens of thousands of examples: they show "
              "confab working end to end, not good conversationalists. They may repeat themselves, contradict their "
              "persona or produce inappropriate text learnt from its data (`confab serve --safety` filters "
              "offensive words).", ""]  # fmt: skip
    return "\n".join(lines)


def recipe_line(name: str) -> list[str]:
    if name not in RECIPES:
        return []
    stages = "stage 1, then this stage" if len(RECIPES[name]) > 1 else "this stage"
    trainer = "retrieval" if name == "retrieval" else "plato"
    configs = "` and `".join(f"--config {c}" for c in RECIPES[name])
    return [f"Trained from the config files that ship with confab ({stages}): `confab train {trainer} {configs}` "
            "(src/confab/resources/configs, with why each choice), the epochs, examples and data set by the budget. "
            "The run as trained:", ""]
