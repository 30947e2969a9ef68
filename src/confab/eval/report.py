"""Evaluation reports: every evaluation writes report.json and report.md so that a number can be traced back to
the command, configuration, seed, data and software that produced it."""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from confab.io import atomic_write_json, atomic_write_text, checksum

VERSIONED = ("confab", "torch", "numpy", "pyarrow", "sentencepiece", "spacy", "faiss-cpu")


@dataclass
class Table:
    """A results table: printed in the terminal, written as markdown, and kept as JSON rows."""

    title: str
    columns: list[str]
    rows: list[list] = field(default_factory=list)
    digits: int = 3  # decimals shown for floats (the JSON keeps them whole)

    def cells(self) -> list[list[str]]:
        return [[_cell(v, self.digits) for v in row] for row in self.rows]

    def numeric(self, i: int) -> bool:
        """Numbers are right-aligned; a column is numeric when every value in it is a number (or missing)."""
        return all(isinstance(r[i], int | float) and not isinstance(r[i], bool) or r[i] is None for r in self.rows)

    def markdown(self) -> str:
        lines = [f"### {self.title}", "", "| " + " | ".join(self.columns) + " |"]
        lines.append("|" + "|".join(" ---: " if self.numeric(i) else " --- " for i in range(len(self.columns))) + "|")
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in self.cells()]
        return "\n".join(lines)

    def records(self) -> list[dict]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def rich(self):
        from rich.table import Table as RichTable

        table = RichTable(title=self.title)
        for i, column in enumerate(self.columns):
            table.add_column(column, justify="right" if self.numeric(i) else "left")
        for row in self.cells():
            table.add_row(*row)
        return table


def _cell(value, digits: int) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def versions() -> dict:
    found = {"python": platform.python_version(), "platform": platform.platform()}
    for name in VERSIONED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


@dataclass
class Report:
    """What one evaluation did and found."""

    evaluation: str  # e.g. "eval selection"
    command: str
    config: dict
    results: dict
    seed: int | None = None
    inputs: list[str] = field(default_factory=list)  # data files and checkpoints, checksummed when written
    tables: list[Table] = field(default_factory=list)
    plots: list[str] = field(default_factory=list)  # PNG file names inside the report folder

    def write(self, folder: Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        record = {
            "evaluation": self.evaluation,
            "command": self.command,
            "config": self.config,
            "seed": self.seed,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "inputs": [checksum(p) for p in dict.fromkeys(self.inputs)],
            "versions": versions(),
            "results": self.results,
            "tables": {t.title: t.records() for t in self.tables},
            "plots": self.plots,
        }
        atomic_write_json(folder / "report.json", record)
        atomic_write_text(folder / "report.md", render(record, self.tables))
        return folder


def render(record: dict, tables: list[Table]) -> str:
    lines = [f"# {record['evaluation']}", "", "```", record["command"], "```", ""]
    lines += [record["created"] + ("" if record["seed"] is None else f" · seed {record['seed']}"), ""]
    for table in tables:
        lines += [table.markdown(), ""]
    for plot in record["plots"]:
        lines += [f"![{Path(plot).stem}]({plot})", ""]
    lines += ["## Inputs", ""]
    lines += [f"- `{i['path']}`: sha256 `{i['sha256'][:16]}…`, {i['files']} file(s), {i['bytes']:,} bytes"
              for i in record["inputs"]]  # fmt: skip
    lines += ["", "## Versions", "", ", ".join(f"{k} {v}" for k, v in record["versions"].items()), ""]
    return "\n".join(lines)


def default_folder(evaluation: str) -> Path:
    """reports/<evaluation>/<UTC time>: a new folder for every run, so none overwrites another."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return Path("reports") / evaluation.replace(" ", "-") / stamp
