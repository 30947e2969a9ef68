import json
import shlex
from pathlib import Path
from typing import Annotated

import typer
from typer.testing import CliRunner

from confab.cli.common import invocation
from confab.eval.report import Report, Table
from confab.io import checksum


def test_a_table_is_markdown_with_numbers_right_aligned_and_pipes_escaped():
    table = Table("T", ["model", "MAP", "note"], [["a|b", 0.51234, None], ["c", 1, "x"]])
    assert table.markdown().splitlines() == ["### T", "", "| model | MAP | note |", "| --- | ---: | --- |",
                                             "| a\\|b | 0.512 | – |", "| c | 1 | x |"]  # fmt: skip
    assert table.records() == [{"model": "a|b", "MAP": 0.51234, "note": None}, {"model": "c", "MAP": 1, "note": "x"}]
    assert Table("T", ["m", "hits@1"], [["a", 51.66]], digits=1).cells() == [["a", "51.7"]]


def test_checksums_follow_contents_and_names(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_text("one")
    first = checksum(tmp_path / "d")
    assert first["files"] == 1 and first["bytes"] == 3 and checksum(tmp_path / "d") == first
    (tmp_path / "d" / "a.txt").write_text("two")
    assert checksum(tmp_path / "d")["sha256"] != first["sha256"]
    (tmp_path / "d" / "a.txt").rename(tmp_path / "d" / "b.txt")
    assert checksum(tmp_path / "d")["sha256"] not in (first["sha256"],)
    assert checksum(tmp_path / "d" / "b.txt")["files"] == 1


def test_a_report_is_written_as_json_and_markdown(tmp_path):
    data = tmp_path / "data.jsonl"
    data.write_text('{"x": 1}\n')
    table = Table("Results", ["model", "MAP"], [["m", 0.5]])
    Report("eval x", "confab eval x --data data.jsonl", {"data": "data.jsonl"}, {"map": 0.5}, 7, [str(data)],
           [table], ["p.png"]).write(tmp_path / "r")  # fmt: skip
    record = json.loads((tmp_path / "r" / "report.json").read_text())
    assert record["seed"] == 7 and record["inputs"][0]["sha256"] == checksum(data)["sha256"]
    assert record["tables"] == {"Results": [{"model": "m", "MAP": 0.5}]} and record["versions"]["confab"]
    markdown = (tmp_path / "r" / "report.md").read_text()
    assert "confab eval x --data data.jsonl" in markdown and "| m | 0.500 |" in markdown and "![p](p.png)" in markdown


def test_the_command_line_of_a_report_runs_the_same_command_again():
    app = typer.Typer()
    seen = []

    @app.command()
    def run(
        ctx: typer.Context,
        files: Annotated[list[Path], typer.Argument()],
        model: Annotated[list[str], typer.Option()],
        k: int = 3,
        flag: Annotated[bool, typer.Option("--flag/--no-flag")] = True,
        quiet: bool = False,
        name: str | None = None,
    ) -> None:
        seen.append(invocation(ctx))

    runner = CliRunner()
    result = runner.invoke(app, ["a b.txt", "c.txt", "--model", "m1", "--model", "m 2", "--no-flag", "--quiet"])
    assert result.exit_code == 0, result.output
    command, config = seen[0]
    assert config == {"files": ["a b.txt", "c.txt"], "model": ["m1", "m 2"], "k": 3, "flag": False, "quiet": True,
                      "name": None}  # fmt: skip
    again = runner.invoke(app, shlex.split(command)[1:])
    assert again.exit_code == 0, again.output
    assert seen[1] == seen[0]
