import json

from typer.testing import CliRunner

from confab.cli import app

runner = CliRunner()


def test_data_build_and_show(fixtures, tmp_path):
    out = tmp_path / "ds"
    result = runner.invoke(
        app,
        [
            "data",
            "build",
            str(fixtures / "RC_2020-01_fixture.jsonl"),
            "--out",
            str(out),
            "--examples",
            "paths",
            "--max-persona",
            "5",
            "--valid-size",
            "1",
            "--test-size",
            "1",
            "--skip-rule",
            "url",
            "--seed",
            "4",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "confab dataset build" in result.output and "examples (paths)" in result.output
    config = json.loads((out / "config.json").read_text())
    assert config["examples"] == "paths" and config["clean"]["skip"] == ["url"] and config["seed"] == 4
    assert config["format"] == "pushshift" and config["persona"] == "rules"  # auto resolved and saved
    shown = runner.invoke(app, ["data", "show", str(out), "-n", "2", "--json"])
    rows = [json.loads(line) for line in shown.output.splitlines()]
    assert len(rows) == 2 and {"id", "context", "response", "persona", "response_author"} <= set(rows[0])
    pretty = runner.invoke(app, ["data", "show", str(out), "-n", "1"])
    assert "response" in pretty.output


def test_quoted_globs_expand(fixtures, tmp_path):
    result = runner.invoke(
        app, ["data", "build", str(fixtures / "R[CS]_2020-01_fixture.jsonl"), "--out", str(tmp_path / "ds"), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "ds" / "config.json").read_text())
    assert [p.rsplit("/", 1)[1] for p in config["inputs"]] == ["RC_2020-01_fixture.jsonl", "RS_2020-01_fixture.jsonl"]


def test_bad_requests_fail_with_a_clear_message(fixtures, tmp_path):
    cases = [
        (["data", "build", str(tmp_path / "missing.zst"), "--out", str(tmp_path / "x")], "missing.zst"),
        (
            ["data", "build", str(fixtures / "knover_fixture.tsv"), "--out", str(tmp_path / "y"), "--format", "csv"],
            "unknown format 'csv'",
        ),
        (
            ["data", "build", str(fixtures / "knover_fixture.tsv"), "--out", str(tmp_path / "z"), "--persona", "vibes"],
            "unknown persona setup",
        ),
        (
            [
                "data",
                "build",
                str(fixtures / "RC_2020-01_fixture.jsonl"),
                "--out",
                str(tmp_path / "w"),
                "--skip-rule",
                "nope",
            ],
            "unknown cleaning rule",
        ),
        (["data", "show", str(tmp_path / "nothing")], "no 'train' folder"),
    ]
    for args, message in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert message in " ".join(result.output.split()), (message, result.output)


def test_a_saved_config_is_the_base_and_flags_override_it(fixtures, tmp_path):
    first = tmp_path / "first"
    args = ["data", "build", str(fixtures / "RC_2020-01_fixture.jsonl"), "--quiet"]
    assert runner.invoke(app, [*args, "--out", str(first), "--examples", "paths", "--skip-rule", "url"]).exit_code == 0
    second = tmp_path / "second"
    result = runner.invoke(app, [*args, "--out", str(second), "--config", str(first / "config.json"), "--seed", "5"])
    assert result.exit_code == 0, result.output
    config = json.loads((second / "config.json").read_text())
    assert config["examples"] == "paths" and config["clean"]["skip"] == ["url"] and config["seed"] == 5
    broken = tmp_path / "broken.json"
    broken.write_text('{"type": "BuildConfig", "inputs": [], "exampels": "paths"}')
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "third"), "--config", str(broken)])
    assert result.exit_code == 2 and "exampels" in result.output


def test_a_user_error_is_one_clear_line_and_a_bug_keeps_its_traceback(monkeypatch, tmp_path):
    from confab.data import schema
    from confab.errors import ConfabError

    result = runner.invoke(app, ["data", "show", str(tmp_path / "no-such-dataset")])
    assert result.exit_code == 2 and "no-such-dataset" in result.output and result.exception.__class__ is SystemExit

    def crash(*args, **kwargs):  # a library's own error from deep inside (a ValueError): not the user's to fix
        import pyarrow as pa

        raise pa.ArrowInvalid("Expected bytes, got a 'int' object")

    monkeypatch.setattr(schema, "iter_examples", crash)
    result = runner.invoke(app, ["data", "show", str(tmp_path)])
    assert result.exit_code == 1 and isinstance(result.exception, ValueError)
    assert not isinstance(result.exception, ConfabError) and "error:" not in result.output
