"""PLATO-2 checkpoints: config.json + model.safetensors + the BPE model. Loading runs no code from the files."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file, save_model

from confab.bundled import resolve
from confab.config import from_dict, to_dict
from confab.devices import resolve as resolve_device
from confab.errors import InvalidInput, MissingInput
from confab.generation.limits import Limits
from confab.generation.model import PlatoConfig, UnifiedTransformer, network
from confab.io import atomic_path, atomic_write_json
from confab.precision import choose
from confab.text import subwords
from confab.text.subwords import Tokenizer
from confab.version import __version__

KIND = "confab-plato"
CHANGED = "changed-from-base"  # config "weights": the file holds only what differs from the base encoder's


def save(folder: Path, model: UnifiedTransformer, tok: Tokenizer, stage: str, limits: Limits, extra: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tok.save(folder)
    with atomic_path(folder / "model.safetensors") as tmp:
        save_model(model, str(tmp))
    atomic_write_json(
        folder / "config.json",
        {"kind": KIND, "confab_version": __version__, "network": model.network, "stage": stage,
         "model": to_dict(model.config), "limits": to_dict(limits), **extra},
    )  # fmt: skip


def load(folder: str | Path, precision: str = "float32", device: str | torch.device = "cpu",
         ) -> tuple[UnifiedTransformer, Tokenizer, dict]:  # fmt: skip
    """The network (a `Generator` or an `Evaluator`) in eval mode on `device` (`confab.devices`), its tokenizer
    and its config.json; `precision` as `confab.precision.choose` says for that device. `bundled:plato2` is the
    shipped generator, `bundled:plato2-evaluator` its evaluator."""
    device = resolve_device(device)
    folder = resolve(folder)[0]
    path = folder / "config.json"
    if not path.exists():
        raise MissingInput(f"{folder}: no config.json; is it a checkpoint of `confab train plato`?")
    meta = json.loads(path.read_text())
    if meta.get("kind") != KIND:
        raise InvalidInput(f"{folder}: a {meta.get('kind')!r} checkpoint, not a PLATO-2 one")
    if precision == "auto" and meta.get("precision") == "float32":
        precision = "float32"  # converted in full precision (`convert --dtype float32`: the reference's figures)
    dtype = choose(precision, device).dtype
    name, config = network_of(meta, path)
    # built without memory, then given the file's tensors in the inference dtype: no random initialisation of
    # weights about to be replaced, and no float32 copy of a bfloat16 model (a 24-layer pair: 2.7 -> 1.3 GB)
    with torch.device("meta"):
        model = network(name, config)
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    weights = folder / "model.safetensors"
    tensors = load_file(str(weights))
    if "network" not in meta:
        tensors = _legacy_tensors(tensors, shapes, meta, weights)
    base = base_weights(meta, model.config, path) if meta.get("weights") == CHANGED else {}
    missing = [k for k in shapes if k not in tensors and k not in base]
    if missing:
        held = ", which its base does not hold" if base else ""
        raise InvalidInput(f"{weights}: lacks {', '.join(missing[:5])}{held}")
    if unexpected := [k for k in tensors if k not in shapes]:
        raise InvalidInput(f"{weights}: unexpected tensors {', '.join(unexpected[:5])}")
    if wrong := [
        f"{k} {tuple(v.shape)} (expected {tuple(shapes[k])})" for k, v in tensors.items() if v.shape != shapes[k]
    ]:
        raise InvalidInput(f"{weights}: misshaped tensors {', '.join(wrong[:5])}")
    state = {**{k: base[k] for k in shapes if k not in tensors}, **tensors}
    state = {k: v.to(device, dtype) if v.is_floating_point() else v.to(device) for k, v in state.items()}
    model.load_state_dict(state, assign=True)
    model.eval()
    return model, subwords.load(folder), meta


def network_of(meta: dict, where: Path) -> tuple[str, PlatoConfig]:
    """Which network a checkpoint holds, and its config. Checkpoints saved before the generator and the evaluator
    were two classes (no "network") held every stage's heads in one model: the stage says which network it was, a
    stage-1 model has no latent, and a converted release's generator (its training-only heads listed as
    "untrained") no recognition."""
    config = dict(meta["model"])
    name = meta.get("network")
    if name is None:
        name = "evaluator" if meta.get("stage") == "2.2" else "generator"
        if meta.get("stage") == "1":
            config["latent_k"] = 0
        elif "recognize" in meta.get("untrained", ()):
            config["recognition"] = False
    return name, from_dict(PlatoConfig, config, f"{where}:model")


# the heads an old single-module checkpoint held beside the body, whichever network it was
OLD_HEADS = ("latents", "recognition_norm", "recognize", "bow", "pooler", "coherence", "similarity")


def _legacy_tensors(tensors: dict, shapes: dict, meta: dict, weights: Path) -> dict[str, torch.Tensor]:
    """An old checkpoint's tensors for the network it holds: the other network's heads are left behind; a
    converted release's evaluator, whose masked-LM bias was never published, gets a zero one (its LM head is used
    by no inference)."""
    kept = {k: v for k, v in tensors.items() if k in shapes or k.split(".")[0] not in OLD_HEADS}
    if "lm_bias" in meta.get("untrained", ()) and "lm_bias" not in kept:
        kept["lm_bias"] = torch.zeros(shapes["lm_bias"])
    return kept


def base_weights(meta: dict, config: PlatoConfig, where: Path) -> dict[str, torch.Tensor]:
    """The weights of the encoder a checkpoint was started from (`base` in its config), checked to be the same."""
    from confab.generation.pretrained import encoder_folder, state_dict_of, weights_sha256

    base = meta.get("base") or {}
    folder = encoder_folder(base.get("encoder", "?"))
    if weights_sha256(folder) != base.get("sha256"):
        raise InvalidInput(f"{where}: stores only what differs from {base.get('encoder')}, and that encoder's weights "
                         "here are not the ones it was trained from (sha256)")  # fmt: skip
    return state_dict_of(folder, config)


def keep_changed(folder: Path) -> list[str]:
    """Drop from a checkpoint the tensors equal (in its dtype) to those of the encoder it started from: a model
    tuned with frozen embeddings then stores only what training changed. Returns the names dropped."""
    path = folder / "config.json"
    meta = json.loads(path.read_text())
    if not meta.get("base") or meta.get("weights") == CHANGED:
        return []
    base = base_weights(meta, network_of(meta, path)[1], path)
    tensors = load_file(str(folder / "model.safetensors"))
    dropped = [k for k, v in tensors.items() if k in base and torch.equal(v, base[k].to(v.dtype))]
    with atomic_path(folder / "model.safetensors") as tmp:
        save_file({k: v for k, v in tensors.items() if k not in dropped}, str(tmp))
    atomic_write_json(path, {**meta, "weights": CHANGED})
    return dropped


def limits_of(meta: dict) -> Limits:
    return from_dict(Limits, meta["limits"])


def is_backward(meta: dict) -> bool:
    """A stage-1 model of p(c|r) (trained with --backward, for MMI ranking); converted models have no run."""
    return bool(meta.get("run", {}).get("backward"))
