"""The embedded default (`confab demo`) and the models that ship with confab."""

import json

import pytest
from typer.testing import CliRunner

from confab.bundled import BUNDLED, bundled_folder
from confab.cli import app
from confab.demo import Demo

runner = CliRunner()


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """`confab demo --budget smoke`: every step of the demo on the bundled data, with a budget of seconds."""
    out = tmp_path_factory.mktemp("demo")
    result = runner.invoke(app, ["demo", "--out", str(out), "--budget", "smoke"])
    assert result.exit_code == 0, result.output
    return out, result.output


def test_the_demo_builds_trains_evaluates_reports_and_chats(smoke):
    out, output = smoke
    for dataset, train in (("persona", 900), ("topical", 9000)):
        report = json.loads((out / "data" / dataset / "report.json").read_text())
        assert report["examples"]["train"] >= train and report["persona"]["train_share_with_persona"] > 0.9
    for model in ("retrieval", "plato-1", "plato-2.1", "plato-2.2"):
        config = json.loads((out / "models" / model / "config.json").read_text())
        assert config["result"]["steps"] > 0 and (
            model == "retrieval" or (out / "models" / model / "training.png").exists()
        )
    report = json.loads((out / "report" / "report.json").read_text())
    ranking = report["results"]["Ranking the true response among 20 candidates (persona test split)"]
    assert {r["model"] for r in ranking} == {"retrieval (MiniLM, persona)", "MiniLM untrained (its start)",
                                             "PLATO-2 evaluator", "TF-IDF"}  # fmt: skip
    assert all(0 <= r["hits@1"] <= r["hits@3"] <= 1 for r in ranking)
    answers = json.loads((out / "eval" / "answers.json").read_text())
    assert answers["PLATO-2"]["responses"] == 4 and 0 < answers["PLATO-2 self-chat"]["distinct-2"] <= 1
    assert (out / "report" / "demo.png").stat().st_size > 10_000 and "![demo](demo.png)" in (
        out / "report" / "report.md").read_text()  # fmt: skip
    # no terminal under the test runner: the demo ends in the scripted sample chat, with a persona
    assert "scripted sample chat" in output and output.count("bot>") == 4 and "i have two dogs" in output


def test_a_second_run_skips_every_step(smoke):
    out, _ = smoke
    before = {p: p.stat().st_mtime_ns for p in (out / "models").rglob("*.safetensors")}
    result = runner.invoke(app, ["demo", "--out", str(out), "--budget", "smoke", "--no-chat"])
    assert result.exit_code == 0, result.output
    assert result.output.count("done already") == 10 and "Ranking the true response" in result.output
    assert before and all(p.stat().st_mtime_ns == t for p, t in before.items())  # nothing trained again


def test_packing_stores_bfloat16_weights_and_a_model_card(smoke, tmp_path):
    from safetensors.torch import load_file

    from confab.agents import load_agent
    from confab.packing import pack

    out, _ = smoke
    samples = Demo(out, "smoke").samples(3)
    demo = Demo(out, "smoke")
    packed = pack(out / "models", tmp_path / "shipped", "#### hits@1: 0.2", "confab demo --budget smoke", samples,
                  data=demo.data_card())  # fmt: skip
    weights = load_file(packed / "plato2" / "model.safetensors")
    assert {str(t.dtype) for t in weights.values() if t.is_floating_point()} == {"torch.bfloat16"}
    card = (packed / "plato2" / "README.md").read_text()
    assert "confab demo --budget smoke --out build/full" in card and '"stage": "2.1"' in card and "hits@1: 0.2" in card
    assert len(samples) == 3 and all(f"- **{q}** {r}" in card for q, r in samples)
    assert "started from all-MiniLM-L6-v2" in card and "epoch 1 · step" in card  # readable training lines
    assert "--config shipped-plato-1` and `--config shipped-plato-2.1`" in card  # the recipe's files
    assert "| Topical-Chat `valid_freq`" in card and "stage 1 on the first 100 training examples" in card
    config = (packed / "plato2" / "config.json").read_text()
    assert str(out) not in config and '"build/full/data/persona"' in config  # no path of the packing machine
    assert not (packed / "retrieval-index" / "chunks").exists() and not (packed / "plato2" / ".train").exists()
    agent = load_agent(packed / "plato2", evaluator=packed / "plato2-evaluator", precision="float32")
    assert agent.respond(["hi , how are you ?"], ["i have a dog ."]).text
    assert load_agent(packed / "retrieval", index=packed / "retrieval-index").respond(["hi"], []).text


def test_an_unknown_bundled_name_is_a_clear_error():
    from confab.agents import load_agent

    with pytest.raises(ValueError, match="bundled:plato2, bundled:retrieval"):
        load_agent("bundled:gpt")


@pytest.mark.parametrize("name", list(BUNDLED))
def test_the_shipped_models_answer_right_after_install(name):
    """`confab respond` with no --agent is the shipped PLATO-2; bundled:retrieval answers from its own index."""
    args = ["respond", "--persona", "i have two dogs ."] + ([] if name == "plato2" else ["--agent", f"bundled:{name}"])
    result = runner.invoke(app, args, input="hi ! do you have any pets ?\n")
    assert result.exit_code == 0, result.output
    reply = json.loads(result.output)
    assert reply["response"].strip() and len(reply["candidates"]) >= 10
    folder = bundled_folder()
    card = (folder / BUNDLED[name][0] / "README.md").read_text()
    assert "confab demo --budget full" in card and "## Measured" in card


def test_the_shipped_models_are_small():
    total = sum(f.stat().st_size for f in bundled_folder().rglob("*") if f.is_file())
    assert total < 120e6, f"{total / 1e6:.1f} MB of shipped models"  # the budget: 120 MB in all


def test_the_full_recipe_measures_the_models_it_would_replace(tmp_path):
    before = Demo(tmp_path, "full").before()
    assert set(before) == {"plato2", "plato2-evaluator", "retrieval", "retrieval-index"}
    assert all((folder / "config.json").exists() or (folder / "index.json").exists() for folder in before.values())
    assert Demo(tmp_path, "quick").before() == {}
