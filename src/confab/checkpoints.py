"""A confab checkpoint: one folder with `config.json` (what it is: `Meta`), `model.safetensors` and the files of its
tokenizer, for every family: the retrieval ranker, PLATO-2's generator and evaluator, and converted releases.
Loading runs no code from the files.

A model tuned from a pretrained encoder may store only the tensors that differ from it (`weights`
"changed-from-base"); `base` names that encoder and the sha256 of its weights, so that another one is refused.
The families read `config` into their own typed config (RankerConfig, PlatoConfig) and `run` into their run.

Checkpoints saved before this one format (the retrieval ranker's config under "ranker" with its base as
{"name", "sha256"}, PLATO-2's under "model") are read into the same `Meta`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from confab.config import check_fields
from confab.errors import InvalidInput, MissingInput
from confab.io import atomic_write_json
from confab.version import __version__

CHANGED = "changed-from-base"  # `weights`: the file holds only what differs from the base encoder's
# each kind: what it is called, and what makes one
KINDS = {"confab-retrieval": ("retrieval", "confab train retrieval"), "confab-plato": ("PLATO-2", "confab train plato")}


@dataclass
class Base:
    """The pretrained encoder a checkpoint was started from: its name (`bundled:minilm` or a folder) and the sha256
    of its weights."""

    encoder: str
    sha256: str


@dataclass
class Meta:
    kind: Literal["confab-retrieval", "confab-plato"]
    network: Literal["ranker", "generator", "evaluator"]
    config: dict[str, Any]  # the network's config, as its family's dataclass saves it
    confab_version: str = __version__
    weights: Literal["all", "changed-from-base"] = "all"
    base: Base | None = None  # what a "changed-from-base" checkpoint is completed from (and any model tuned from one)
    precision: str | None = None  # the dtype the weights were stored in by a conversion (float32, bfloat16)
    stage: Literal["1", "2.1", "2.2"] | None = None  # PLATO-2's training stage
    limits: dict[str, Any] | None = None  # PLATO-2's input limits (generation.limits.Limits)
    run: dict[str, Any] | None = None  # the training run's config; None for a converted release or an untrained one
    extra: dict[str, Any] = field(default_factory=dict)  # the rest: data, result, decoding, converted_from, ...

    def __post_init__(self):
        check_fields(self)

    @property
    def backward(self) -> bool:
        """A stage-1 model of p(c|r) (trained with --backward, for MMI ranking)."""
        return bool((self.run or {}).get("backward"))


def write(folder: Path, meta: Meta) -> None:
    """`folder/config.json`, atomically: the typed fields, then `extra`'s at the top level."""
    data = {f.name: getattr(meta, f.name) for f in dataclasses.fields(meta) if f.name != "extra"}
    data["base"] = dataclasses.asdict(meta.base) if meta.base else None
    clash = sorted(set(meta.extra) & set(data))
    if clash:
        raise InvalidInput(f"extra keys {', '.join(clash)} are fields of the checkpoint's config.json")
    atomic_write_json(folder / "config.json", {k: v for k, v in {**data, **meta.extra}.items() if v is not None})


def read(folder: Path, kind: str) -> Meta:
    """The `Meta` of the checkpoint in `folder`, which must be of `kind`."""
    data = _config_json(folder, f"a checkpoint of `{KINDS[kind][1]}`")
    if data.get("kind") != kind:
        raise InvalidInput(f"{folder / 'config.json'}: a {data.get('kind')!r} checkpoint, not a {KINDS[kind][0]} one")
    return from_json(data, folder / "config.json")


def kind_of(folder: Path) -> str:
    """Which family a checkpoint folder is (its config.json's kind), read without loading anything else."""
    kind = _config_json(folder, "a confab checkpoint").get("kind")
    if kind not in KINDS:
        raise InvalidInput(f"{folder}: unknown checkpoint kind {kind!r}")
    return kind


def _config_json(folder: Path, what: str) -> dict:
    path = folder / "config.json"
    if not path.exists():
        raise MissingInput(f"{folder}: no config.json; is it {what}?")
    try:
        data = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidInput(f"{path}: not a JSON checkpoint config ({e})") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"{path}: not a checkpoint config (a JSON object)")
    return data


def from_json(data: dict, where: Path | str = "config.json") -> Meta:
    data = _upgrade(dict(data))
    names = {f.name for f in dataclasses.fields(Meta)} - {"extra"}
    fields = {k: v for k, v in data.items() if k in names}
    if missing := sorted({"kind", "network", "config"} - set(fields)):
        raise InvalidInput(f"{where}: lacks {', '.join(missing)}")
    if isinstance(fields.get("base"), dict):
        base = fields["base"]
        if set(base) != {"encoder", "sha256"}:
            raise InvalidInput(f"{where}: base {base!r}; expected its encoder and sha256")
        fields["base"] = Base(**base)
    try:
        return Meta(**fields, extra={k: v for k, v in data.items() if k not in names})
    except InvalidInput as e:
        raise InvalidInput(f"{where}: {e}") from None


def _upgrade(data: dict) -> dict:
    """A config.json of the two formats before this one, in this one's keys."""
    if "config" in data:
        return data
    if data.get("kind") == "confab-retrieval" and "ranker" in data:
        data["config"], data["network"] = data.pop("ranker"), "ranker"
        if isinstance(base := data.get("base"), dict) and "name" in base:  # the installed all-MiniLM-L6-v2
            data["base"] = {"encoder": "bundled:minilm", "sha256": base["sha256"]}
            data["weights"] = CHANGED  # its top layers only
    elif data.get("kind") == "confab-plato" and "model" in data:
        data["config"] = data.pop("model")
        if "network" not in data:  # one module held every stage's heads: its stage says which network it was
            data["network"] = "evaluator" if data.get("stage") == "2.2" else "generator"
            data["layout"] = "one-module"  # generation.checkpoint leaves the other network's heads behind
    return data
