"""Files that ship with confab: word lists for cleaning, persona positives, real demo samples, small models."""

from importlib.resources import files
from pathlib import Path


def resource_path(name: str) -> Path:
    return Path(str(files("confab.resources").joinpath(name)))


def read_list(path: str | Path) -> list[str]:
    """Non-empty lines of a text file, `#` comments and surrounding spaces removed."""
    with open(path, encoding="utf-8") as f:
        items = ["" if line.lstrip().startswith("#") else line.strip() for line in f]
    return [item for item in items if item]
