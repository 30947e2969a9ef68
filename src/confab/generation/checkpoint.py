"""PLATO-2 checkpoints in confab's one format (`confab.checkpoints`): config.json + model.safetensors + the
tokenizer's files. Loading runs no code from the files."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file, save_model

from confab.bundled import resolve
from confab.checkpoints import CHANGED, Meta, read, write
from confab.config import from_dict, to_dict
from confab.devices import resolve as resolve_device
from confab.errors import InvalidInput
from confab.generation.limits import Limits
from confab.generation.model import network
from confab.io import atomic_path
from confab.precision import choose
from confab.text import subwords
from confab.text.subwords import Tokenizer
from confab.transformer.bert import encoder_folder, state_dict_of, weights_sha256
from confab.transformer.model import PlatoConfig, UnifiedTransformer

KIND = "confab-plato"


def save(folder: Path, model: UnifiedTransformer, tok: Tokenizer, stage: str, limits: Limits, extra: dict) -> None:
    """The checkpoint of `model` after `stage`; `extra` may hold its run, base and precision (typed fields of the
    config.json) and anything else worth keeping beside them (data, result, decoding, converted_from)."""
    folder.mkdir(parents=True, exist_ok=True)
    tok.save(folder)
    with atomic_path(folder / "model.safetensors") as tmp:
        save_model(model, str(tmp))
    extra = dict(extra)
    meta = Meta(kind=KIND, network=model.network, config=to_dict(model.config), stage=stage, limits=to_dict(limits),
                run=extra.pop("run", None), base=extra.pop("base", None), precision=extra.pop("precision", None),
                extra=extra)  # fmt: skip
    write(folder, meta)


def load(folder: str | Path, precision: str = "float32", device: str | torch.device = "cpu",
         ) -> tuple[UnifiedTransformer, Tokenizer, Meta]:  # fmt: skip
    """The network (a `Generator` or an `Evaluator`) in eval mode on `device` (`confab.devices`), its tokenizer
    and its config.json; `precision` as `confab.precision.choose` says for that device. `bundled:plato2` is the
    shipped generator, `bundled:plato2-evaluator` its evaluator."""
    device = resolve_device(device)
    folder = resolve(folder)[0]
    meta = read(folder, KIND)
    path = folder / "config.json"
    if precision == "auto" and meta.precision == "float32":
        precision = "float32"  # converted in full precision (`convert --dtype float32`: the reference's figures)
    dtype = choose(precision, device).dtype
    config = network_config(meta, path)
    # built without memory, then given the file's tensors in the inference dtype: no random initialisation of
    # weights about to be replaced, and no float32 copy of a bfloat16 model (a 24-layer pair: 2.7 -> 1.3 GB)
    with torch.device("meta"):
        model = network(meta.network, config)
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    weights = folder / "model.safetensors"
    tensors = load_file(str(weights))
    if meta.extra.get("layout") == "one-module":
        tensors = _one_module_tensors(tensors, shapes, meta)
    base = base_weights(meta, model.config, path) if meta.weights == CHANGED else {}
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


def network_config(meta: Meta, where: Path) -> PlatoConfig:
    """The network's config. Checkpoints saved before the generator and the evaluator were two classes (layout
    "one-module") held every stage's heads in one model: a stage-1 model had no latent in use, and a converted
    release's generator (its training-only heads listed as "untrained") no recognition."""
    config = dict(meta.config)
    if meta.extra.get("layout") == "one-module":
        if meta.stage == "1":
            config["latent_k"] = 0
        elif "recognize" in meta.extra.get("untrained", ()):
            config["recognition"] = False
    return from_dict(PlatoConfig, config, f"{where}:config")


# the heads an old single-module checkpoint held beside the body, whichever network it was
OLD_HEADS = ("latents", "recognition_norm", "recognize", "bow", "pooler", "coherence", "similarity")


def _one_module_tensors(tensors: dict, shapes: dict, meta: Meta) -> dict[str, torch.Tensor]:
    """An old checkpoint's tensors for the network it holds: the other network's heads are left behind; a
    converted release's evaluator, whose masked-LM bias was never published, gets a zero one (its LM head is used
    by no inference)."""
    kept = {k: v for k, v in tensors.items() if k in shapes or k.split(".")[0] not in OLD_HEADS}
    if "lm_bias" in meta.extra.get("untrained", ()) and "lm_bias" not in kept:
        kept["lm_bias"] = torch.zeros(shapes["lm_bias"])
    return kept


def base_weights(meta: Meta, config: PlatoConfig, where: Path) -> dict[str, torch.Tensor]:
    """The weights of the encoder a checkpoint was started from (`base` in its config), checked to be the same."""
    if meta.base is None:
        raise InvalidInput(f"{where}: stores only what differs from its base encoder, and names none (base)")
    folder = encoder_folder(meta.base.encoder)
    if weights_sha256(folder) != meta.base.sha256:
        raise InvalidInput(f"{where}: stores only what differs from {meta.base.encoder}, and that encoder's weights "
                         "here are not the ones it was trained from (sha256)")  # fmt: skip
    return state_dict_of(folder, config)


def keep_changed(folder: Path) -> list[str]:
    """Drop from a checkpoint the tensors equal (in its dtype) to those of the encoder it started from: a model
    tuned with frozen embeddings then stores only what training changed. Returns the names dropped."""
    path = folder / "config.json"
    meta = read(folder, KIND)
    if meta.base is None or meta.weights == CHANGED:
        return []
    base = base_weights(meta, network_config(meta, path), path)
    tensors = load_file(str(folder / "model.safetensors"))
    dropped = [k for k, v in tensors.items() if k in base and torch.equal(v, base[k].to(v.dtype))]
    with atomic_path(folder / "model.safetensors") as tmp:
        save_file({k: v for k, v in tensors.items() if k not in dropped}, str(tmp))
    meta.weights = CHANGED
    write(folder, meta)
    return dropped


def limits_of(meta: Meta) -> Limits:
    return from_dict(Limits, meta.limits)
