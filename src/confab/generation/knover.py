"""The released PLATO-2 (Knover, PaddleNLP) converted into confab checkpoints.

The authors' English models (24 layers / 310M, 32 layers / 1.6B, each a generator and its NSP evaluation model)
exist as Knover static-graph folders (`Plato/`, `NSP/`) and as PaddleNLP's one `.pdparams` file. Both are read as
data (`generation.paddle`); the weights become confab's one model in the reference's layout, as configuration:
pre-norm blocks with a final LayerNorm, two type embeddings and no turn embeddings, the latent as a bare vector
before the context (`latent_slot="bare"`), the LM head's transform tied to the word embeddings, and the NSP pooler
at the first [BOS]; the inputs follow `batches.knover_layout`. Paddle's `Linear` weights are [in, out]: they are
transposed. A missing, unexpected or misshaped tensor is an error that names it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import torch

from confab.errors import InvalidInput, MissingInput
from confab.generation import checkpoint
from confab.generation.limits import Limits
from confab.generation.model import network
from confab.generation.paddle import read_pdparams, read_static_folder
from confab.text.knover import KnoverTokenizer
from confab.transformer.model import PlatoConfig, UnifiedTransformer

# the reference's reader: at most 128 context tokens ([BOS] and each turn's [EOS] included)
LIMITS = dict(max_context=128, max_persona=0, max_response=128, layout="knover")
# the reference's decoding: top-k sampling, no n-gram blocking (repetition is penalised when ranking), at least one
# token, at most 64
DECODING = dict(strategy="sampling", top_k=10, top_p=1.0, no_repeat_ngram=0, min_length=1, max_length=64)
HEAD_SIZE = 64  # the released models' attention head width (24L: 1024 / 16 heads, 32L: 2048 / 32)

# confab's names -> each format's, per block ({i}) and outside the blocks; "qkv" is fused from three
PADDLENLP_BLOCK = {"q": "self_attn.q_proj", "k": "self_attn.k_proj", "v": "self_attn.v_proj",
                   "attention.out": "self_attn.out_proj"}  # fmt: skip
PADDLENLP = {
    "generator": dict(prefix="plato2_encoder.", layers="layers", final="post_encoder_layer_norm",
                      block={**PADDLENLP_BLOCK, "norm1": "pre_norm_layer", "norm2": "post_norm_layer",
                             "mlp.0": "fc1", "mlp.2": "fc2"},
                      outside={"tokens": "plato2_encoder.word_embedding_layer", "roles":
                               "plato2_encoder.sent_embedding_layer", "positions": "plato2_encoder.pos_embedding_layer",
                               "lm_transform.0": "logits_fc_layer", "lm_transform.2": "logits_layer_norm"}),
    "evaluator": dict(prefix="nsp_predictor.encoder.", layers="layers", final="norm",
                      block={**PADDLENLP_BLOCK, "norm1": "norm1", "norm2": "norm2", "mlp.0": "linear1",
                             "mlp.2": "linear2"},
                      outside={"tokens": "nsp_predictor.word_embedding_layer", "roles":
                               "nsp_predictor.sent_embedding_layer", "positions": "nsp_predictor.pos_embedding_layer",
                               "pooler.0": "nsp_predictor.fc1", "coherence": "nsp_predictor.fc2"}),
}  # fmt: skip
KNOVER_BLOCK = {"q": "multi_head_att_query_fc", "k": "multi_head_att_key_fc", "v": "multi_head_att_value_fc",
                "attention.out": "multi_head_att_output_fc", "norm1": "pre_att_layer_norm",
                "norm2": "pre_ffn_layer_norm", "mlp.0": "ffn_fc_0", "mlp.2": "ffn_fc_1"}  # fmt: skip
KNOVER_OUTSIDE = {"tokens": "word_embedding", "roles": "sent_embedding", "positions": "pos_embedding",
                  "norm": "post_encoder_layer_norm", "lm_transform.0": "mask_lm_trans_fc",
                  "lm_transform.2": "mask_lm_trans_layer_norm", "pooler.0": "pooled_fc",
                  "coherence": "next_sent_fc"}  # fmt: skip


def random_release(size: str, out: Path, vocab: Path, dtype: str = "float32") -> dict[str, Path]:
    """A generator and an evaluator of a released model's shape with random weights, saved as a conversion would
    save them (for measuring memory and speed before downloading the weights)."""
    tok = KnoverTokenizer.load(vocab)
    written = {}
    for role in ("generator", "evaluator"):
        config = release_config(role, vocab_size=len(tok), max_positions=256, roles=2, **RELEASED[size])
        model = network(role, config).eval()
        written[role] = save(model, tok, role, out, dtype, {"source": f"random weights, {size}", "format": "none"})
    return written


def save(model: UnifiedTransformer, tok: KnoverTokenizer, role: str, out: Path, dtype: str, origin: dict) -> Path:
    """`out/role` as a confab checkpoint in `dtype`, with the reference's decoding and ranking for a generator."""
    model.to(getattr(torch, dtype))
    extra = {"converted_from": origin, "precision": dtype}
    if role == "generator":  # decoded and ranked as PaddleNLP's port of the reference does
        extra |= {"decoding": DECODING, "evaluator_input": "retokenised"}
    # the reference reads 128 context tokens; a model with fewer positions (a test model) splits what it has
    context = min(LIMITS["max_context"], model.config.max_positions // 2)
    response = min(LIMITS["max_response"], model.config.max_positions - context)
    limits = Limits(**{**LIMITS, "max_context": context, "max_response": response})
    checkpoint.save(out / role, model, tok, "2.1" if role == "generator" else "2.2", limits, extra)
    return out / role


def convert(source: str | Path, out: str | Path, dtype: str = "float32", vocab: str | Path | None = None,
            heads: int | None = None) -> dict[str, Path]:  # fmt: skip
    """Write `out/generator` and/or `out/evaluator` from a Knover folder (its `Plato/` and `NSP/`, or one
    variable folder) or a PaddleNLP `.pdparams`; `vocab` is the folder with Knover's `spm.model` and `vocab.txt`
    (default: the source's folder or its parent). Returns the folders written."""
    source, out = Path(source), Path(out)
    if dtype not in ("float32", "bfloat16"):
        raise InvalidInput(f"--dtype {dtype!r}: float32 or bfloat16")
    if not source.exists():
        raise MissingInput(f"{source}: no such file or folder")
    parts = read_parts(source)
    tok = KnoverTokenizer.load(vocab_folder(source, vocab))
    written = {}
    for role, weights in parts.items():
        model = to_model(weights, role, source, heads)
        if len(tok) != model.config.vocab_size:
            raise InvalidInput(f"{source}: {model.config.vocab_size} word embeddings, the vocabulary has {len(tok)}")
        origin = {"source": source.name, "format": FORMATS[role, source.is_file()]}
        written[role] = save(model, tok, role, out, dtype, origin)
    return written


FORMATS = {("generator", False): "knover static Plato/", ("evaluator", False): "knover static NSP/",
           ("generator", True): "paddlenlp pdparams", ("evaluator", True): "paddlenlp pdparams"}  # fmt: skip


def read_parts(source: Path) -> dict[str, dict[str, tuple[str, np.ndarray]]]:
    """{"generator"|"evaluator": {confab name: (the source's name, array)}} from either format."""
    if source.is_file():
        arrays = read_pdparams(source)
        parts = {}
        if any(k.startswith("plato2_encoder.") for k in arrays):
            parts["generator"] = paddlenlp_names(arrays, "generator", source)
        if any(k.startswith("nsp_predictor.") for k in arrays):
            parts["evaluator"] = paddlenlp_names(arrays, "evaluator", source)
        if not parts:
            raise InvalidInput(
                f"{source}: neither plato2_encoder.* nor nsp_predictor.* tensors: not a PLATO-2 pdparams"
            )
        return parts
    folders = {"generator": source / "Plato", "evaluator": source / "NSP"}
    found = {role: f for role, f in folders.items() if f.is_dir()}
    if not found:  # one variable folder: the generator has the latent embedding, the NSP model its classifier
        names = {p.name for p in source.iterdir()}
        role = "generator" if "latent_embedding" in names else "evaluator" if "next_sent_fc.w_0" in names else None
        if role is None:
            raise InvalidInput(f"{source}: no Plato/ or NSP/ folder, and not a Knover variable folder itself")
        found = {role: source}
    return {role: knover_names(read_static_folder(f), role, f) for role, f in found.items()}


def paddlenlp_names(arrays: dict, role: str, source: Path) -> dict:
    spec = PADDLENLP[role]
    names = dict(spec["outside"])
    names["norm"] = spec["prefix"] + spec["final"]
    for i in range(_layers(arrays, re.escape(spec["prefix"] + spec["layers"]) + r"\.(\d+)\.")):
        for ours, theirs in spec["block"].items():
            names[f"blocks.{i}.{ours}"] = f"{spec['prefix']}{spec['layers']}.{i}.{theirs}"
    if role == "generator":
        names["lm_bias"], names["latents"] = "logits_bias", "latent_weight"
    # the evaluator's tensors are the nsp_predictor's, the generator's all the others
    mine = {k: v for k, v in arrays.items() if k.startswith("nsp_predictor.") == (role == "evaluator")}
    return _collect(mine, names, ".weight", ".bias", source)


def knover_names(arrays: dict, role: str, source: Path) -> dict:
    other = ("pooler.0", "coherence") if role == "generator" else ("lm_transform.0", "lm_transform.2")
    names = {k: v for k, v in KNOVER_OUTSIDE.items() if k not in other}
    for i in range(_layers(arrays, r"encoder_layer_(\d+)_")):
        for ours, theirs in KNOVER_BLOCK.items():
            names[f"blocks.{i}.{ours}"] = f"encoder_layer_{i}_{theirs}"
    if role == "generator":
        names["lm_bias"], names["latents"] = "mask_lm_out_fc.b_0", "latent_embedding"
    return _collect(arrays, names, None, None, source)


def _layers(arrays: dict, pattern: str) -> int:
    found = {int(m.group(1)) for k in arrays if (m := re.match(pattern, k))}
    if not found or found != set(range(max(found) + 1)):
        raise InvalidInput(f"blocks {sorted(found)}: expected 0..n-1")
    return len(found)


def _collect(available: dict, names: dict, weight: str | None, bias: str | None, source: Path) -> dict:
    """Each confab tensor from the source's arrays: (its name there, array). `weight`/`bias` are PaddleNLP's
    suffixes; Knover's are `.w_0`/`.b_0` for layers and `_scale`/`_bias` for layer norms (None: Knover)."""
    out, used = {}, set()

    def take(name: str) -> np.ndarray:
        if name not in available:
            raise InvalidInput(f"{source}: missing tensor {name}")
        used.add(name)
        return available[name]

    for ours, theirs in names.items():
        if ours in ("lm_bias", "latents"):
            out[ours] = (theirs, take(theirs))
            continue
        norm = ours.endswith(("norm1", "norm2")) or ours in ("norm", "lm_transform.2")
        embedding = ours in ("tokens", "roles", "positions")
        if weight is None:  # Knover
            w = f"{theirs}_scale" if norm else theirs if embedding else f"{theirs}.w_0"
            b = None if embedding else f"{theirs}_bias" if norm else f"{theirs}.b_0"
        else:
            w, b = f"{theirs}{weight}", None if embedding else f"{theirs}{bias}"
        out[f"{ours}.weight"] = (w, take(w))
        if b is not None:
            out[f"{ours}.bias"] = (b, take(b))
    if unexpected := sorted(set(available) - used):
        raise InvalidInput(f"{source}: unexpected tensors {', '.join(unexpected[:5])}")
    return out


def vocab_folder(source: Path, vocab: str | Path | None) -> Path:
    if vocab is not None:
        return Path(vocab)
    base = source.parent if source.is_file() else source
    for folder in (base, base.parent):
        if (folder / "spm.model").exists() and (folder / "vocab.txt").exists():
            return folder
    raise MissingInput(f"{source}: no spm.model and vocab.txt beside it; give Knover's vocabulary with --vocab")


def release_config(role: str, latent_k: int = 20, **shape) -> PlatoConfig:
    """The network in the reference's layout, of the given shape (vocab_size, layers, hidden, ...): a generator
    with K latents and without the training-only recognition heads (the release has none), or an evaluator."""
    generator = role == "generator"
    return PlatoConfig(**shape, dropout=0.0, norm="pre", norm_eps=1e-5, lm_transform=generator,
                       pooling="first", latent_slot="bare" if generator else "token", turn_embeddings=False,
                       latent_k=latent_k if generator else 0, recognition=False)  # fmt: skip


# the released English models' shapes (Knover projects/PLATO-2): 8,001 tokens, 256 positions, K = 20
RELEASED = {"24L": dict(layers=24, hidden=1024, heads=16, ffn=4096), "32L": dict(layers=32, hidden=2048, heads=32,
            ffn=8192)}  # fmt: skip


def default_heads(hidden: int) -> int:
    """The weights do not say how many heads they have: the released models' heads are 64 wide; a model narrower
    than that is taken to have heads 8 wide (as the reference's tiny test model)."""
    return hidden // HEAD_SIZE if hidden >= HEAD_SIZE else max(1, hidden // 8)


def knover_heads(source: Path) -> int | None:
    """num_attention_heads of a Knover model config (JSON) beside the checkpoint, if there is one."""
    base = source.parent if source.is_file() else source
    for path in sorted([*base.glob("*.json"), *base.parent.glob("*.json")]):
        try:
            heads = json.loads(path.read_text()).get("num_attention_heads")
        except (ValueError, AttributeError, UnicodeDecodeError):
            continue
        if isinstance(heads, int) and heads > 0:
            return heads
    return None


def to_model(weights: dict, role: str, source: Path, heads: int | None) -> UnifiedTransformer:
    tokens = weights["tokens.weight"][1]
    vocab, hidden = tokens.shape
    layers = len({k.split(".")[1] for k in weights if k.startswith("blocks.")})
    ffn = weights["blocks.0.mlp.0.weight"][1].shape[1]
    heads = heads or knover_heads(source) or default_heads(hidden)
    if hidden % heads:
        raise InvalidInput(f"{source}: hidden size {hidden} does not split into {heads} heads")
    config = release_config(
        role, vocab_size=vocab, layers=layers, hidden=hidden, heads=heads, ffn=ffn,
        max_positions=weights["positions.weight"][1].shape[0], roles=weights["roles.weight"][1].shape[0],
        latent_k=weights["latents"][1].shape[1] if "latents" in weights else 20,
    )  # fmt: skip
    model = network(role, config).eval()
    state = model.state_dict()
    tensors = {}
    for ours, (_, array) in weights.items():
        if ours == "latents":  # Knover's [hidden, K]: z's embedding is one_hot(z) @ latent_weight.T
            ours, array = "latents.weight", array.T
        elif ours.endswith(".weight") and array.ndim == 2 and not ours.startswith(("tokens", "roles", "positions")):
            array = array.T  # Paddle's Linear: [in, out]
        tensors[ours] = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    names = {ours: theirs for ours, (theirs, _) in weights.items()}
    for i in range(layers):  # query, key and value: one fused projection
        shapes = {names[f"blocks.{i}.{n}.weight"]: tuple(tensors[f"blocks.{i}.{n}.weight"].shape) for n in "qkv"}
        if len(set(shapes.values())) != 1 or (hidden, hidden) not in shapes.values():
            raise InvalidInput(f"{source}: query, key and value projections {shapes}, expected ({hidden}, {hidden})")
        q, k, v = (tensors.pop(f"blocks.{i}.{n}.weight") for n in "qkv")
        tensors[f"blocks.{i}.attention.qkv.weight"] = torch.cat([q, k, v])
        tensors[f"blocks.{i}.attention.qkv.bias"] = torch.cat([tensors.pop(f"blocks.{i}.{n}.bias") for n in "qkv"])
    for key, value in tensors.items():
        if key not in state:
            raise InvalidInput(f"{source}: {names.get(key, key)} has no place in the model")
        if value.shape != state[key].shape:
            raise InvalidInput(
                f"{source}: {names.get(key, key)} is {tuple(value.shape)}, expected {tuple(state[key].shape)}"
            )
    if role == "evaluator":  # the NSP model's masked-LM output bias was not published; no inference reads it
        tensors.setdefault("lm_bias", torch.zeros(config.vocab_size))
    missing = [k for k in state if k not in tensors]
    if missing:
        raise InvalidInput(f"{source}: nothing for {', '.join(missing[:5])}")
    model.load_state_dict(tensors, strict=False)
    return model
