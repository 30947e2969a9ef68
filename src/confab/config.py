"""Typed configs: dataclasses saved as JSON next to every output and loaded back exactly.

Unknown or misspelt keys are an error naming the key, never a silent default. A dataclass whose keys changed
reads its older configs through a `legacy(data) -> data` static method.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from confab.errors import InvalidInput, MissingInput
from confab.io import atomic_write_json
from confab.resources import resource_path

T = TypeVar("T")


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def from_dict(cls: type[T], data: dict[str, Any], where: str = "config") -> T:
    """Build dataclass `cls` from `data`, checking every key and value type."""
    if not isinstance(data, dict):
        raise InvalidInput(f"{where}: expected an object, got {type(data).__name__}")
    if hasattr(cls, "legacy"):
        data = cls.legacy(data)
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise InvalidInput(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
    kwargs = {k: _convert(hints[k], v, f"{where}.{k}") for k, v in data.items()}
    return cls(**kwargs)


def check_fields(config: Any) -> None:
    """Check a dataclass's values against its field types as `from_dict` does, for a config built in code (its
    __post_init__ calls this): a misspelt choice fails where it is made, not deep inside a run."""
    hints = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if not dataclasses.is_dataclass(value):  # a nested config checks itself
            _convert(hints[f.name], value, f"{type(config).__name__}.{f.name}")


def _convert(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _convert(option, value, where)
            except ValueError as e:
                errors.append(str(e))
        raise InvalidInput(errors[0] if errors else f"{where}: bad value {value!r}")
    if origin is typing.Literal:
        if value not in typing.get_args(hint):
            raise InvalidInput(f"{where}: {value!r} is not one of {list(typing.get_args(hint))}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise InvalidInput(f"{where}: expected a list, got {type(value).__name__}")
        (item,) = typing.get_args(hint) or (Any,)
        return [_convert(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, where)
    if hint is Any:
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool) and not (
        isinstance(value, hint) and not (hint is int and isinstance(value, bool))
    ):
        raise InvalidInput(f"{where}: expected {hint.__name__}, got {value!r}")
    return value


def save_config(config: Any, path: str | Path) -> None:
    atomic_write_json(path, {"type": type(config).__name__, **to_dict(config)})


def load_config(cls: type[T], path: str | Path) -> T:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise MissingInput(f"{path}: not found") from None
    except json.JSONDecodeError as e:
        raise InvalidInput(f"{path}:{e.lineno}: not JSON ({e.msg})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidInput(f"{path}: cannot be read ({e})") from None
    kind = data.pop("type", cls.__name__)
    if kind != cls.__name__:
        raise InvalidInput(f"{path}: holds a {kind}, expected a {cls.__name__}")
    return from_dict(cls, data, str(path))


def recipe(name: str | Path) -> Path:
    """A training config: a JSON file, or the name of one that ships with confab (resources/configs:
    `shipped-plato-1`, `paper-1.6B-2.1`, ...)."""
    path = Path(name)
    if path.suffix == ".json" or path.exists():
        if not path.exists():
            raise MissingInput(f"{path}: not found")
        return path
    shipped = resource_path("configs") / f"{name}.json"
    if not shipped.exists():
        names = sorted(p.stem for p in resource_path("configs").glob("*.json"))
        raise MissingInput(f"{name}: no such file, nor a config of confab's ({', '.join(names)})")
    return shipped
