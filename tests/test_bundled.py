"""Every command that takes a model takes the shipped ones by name (`bundled:plato2`, `bundled:retrieval`, also as
`index=` and `evaluator=`), down to its report; and a wrong name or an unusable report folder fails before the work."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from confab.cli import app
from confab.data.build import Build, BuildConfig
from confab.resources import resource_path

runner = CliRunner()
FIXTURES = Path(__file__).parent / "fixtures"
PERSONACHAT = str(FIXTURES / "personachat_fixture.txt")
DDPP = str(FIXTURES / "dailydialogpp_fixture.jsonl")
PLATO = {"plato2", "plato2-evaluator"}
RETRIEVAL = {"retrieval", "retrieval-index"}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> str:
    """The bundled Knover sample of PERSONA-CHAT (1,000 examples), 100 of them for test (mazare4 ranks among 100)."""
    out = tmp_path_factory.mktemp("ds") / "persona"
    sample = resource_path("samples/knover_example_train.tsv.gz")
    Build(BuildConfig(inputs=[str(sample)], format="knover", valid_size=10, test_size=100), out).run()
    return str(out)


def shipped_inputs(report: Path) -> set[str]:
    """The shipped folders among a report's checksummed inputs."""
    from confab.bundled import bundled_folder

    inputs = json.loads((report / "report.json").read_text())["inputs"]
    return {Path(i["path"]).name for i in inputs if Path(i["path"]).parent == bundled_folder()}


def run(args: list[str]):
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return result


COMMANDS = {
    "eval ranking": (["eval", "ranking", "--model", "bundled:retrieval", "--model", "bundled:plato2", "--model",
                      "tfidf", "--data", PERSONACHAT, "--format", "parlai"], {"plato2-evaluator", "retrieval"}),
    "eval selection": (["eval", "selection", "--model", "bundled:plato2", "--model", "bundled:retrieval", "--data",
                        DDPP, "--max-contexts", "2"], {"plato2-evaluator", "retrieval"}),
    "eval perplexity": (["eval", "perplexity", "--model", "bundled:plato2", "--data", "{ds}", "--max-examples", "3"],
                        {"plato2"}),
    "eval responses plato2": (["eval", "responses", "--agent", "bundled:plato2,evaluator=bundled:plato2",
                               "--data", "{ds}", "--max-examples", "2", "--out", "{tmp}/log.jsonl", "--quiet"], PLATO),
    "eval responses retrieval": (["eval", "responses", "--agent", "bundled:retrieval,index=bundled:retrieval",
                                  "--data", "{ds}", "--max-examples", "2", "--out", "{tmp}/log.jsonl", "--quiet"],
                                 RETRIEVAL),
    "selfchat": (["selfchat", "--agent", "bundled:plato2", "--partner", "bundled:retrieval", "--max-dialogues", "1",
                  "--turns", "3", "--out", "{tmp}/chat.jsonl", "--quiet"], PLATO | RETRIEVAL),
    "eval static": (["eval", "static", PERSONACHAT, "--format", "parlai", "--agent", "plato=bundled:plato2",
                     "--agent", "ret=bundled:retrieval", "--agent",
                     "again=bundled:plato2,evaluator=bundled:plato2", "--max-contexts", "2", "--out", "{tmp}/s.jsonl",
                     "--quiet"], PLATO | RETRIEVAL),
    "eval table mazare1": (["eval", "table", "mazare1", "--model", "bundled:retrieval", "--data", "{ds}",
                            "--candidates", "5"], {"retrieval"}),
    "eval table mazare3": (["eval", "table", "mazare3", "--model", "bundled:retrieval", "--data", "{ds}",
                            "--candidates", "5"], {"retrieval"}),
    "eval table mazare4": (["eval", "table", "mazare4", "--model", "bundled:retrieval", "--data", "{ds}"],
                           {"retrieval"}),
    "eval table plato8": (["eval", "table", "plato8", "--model", "bundled:plato2", "--data", DDPP, "--max-contexts",
                           "2"], {"plato2-evaluator"}),
}  # fmt: skip


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_evaluation_takes_the_shipped_models_down_to_its_report(command, dataset, tmp_path):
    args, shipped = COMMANDS[command]
    args = [a.format(ds=dataset, tmp=tmp_path) for a in args]
    run([*args, "--report", str(tmp_path / "report")])
    assert shipped_inputs(tmp_path / "report") == shipped, command


def test_talking_indexing_and_fine_tuning_take_the_shipped_models(dataset, tmp_path):
    said = runner.invoke(app, ["chat", "--agent", "bundled:retrieval,index=bundled:retrieval"],
                         input="hi ! do you have any pets ?\n/quit\n")  # fmt: skip
    assert said.exit_code == 0 and "bot>" in said.output, said.output
    result = runner.invoke(app, ["respond", "--agent", "bundled:plato2,evaluator=bundled:plato2"],
                           input="do you like to ski ?\n")  # fmt: skip
    assert result.exit_code == 0, result.output
    reply = json.loads(result.output)
    assert len(reply["candidates"]) == 20 and reply["response"] == reply["candidates"][0]["text"]
    run(["index", "build", "--model", "bundled:retrieval", "--data", dataset, "--out", str(tmp_path / "idx"),
         "--quiet"])  # fmt: skip
    assert json.loads((tmp_path / "idx" / "index.json").read_text())["size"] > 0
    run(["train", "plato", "--stage", "2.1", "--init", "bundled:plato2", "--data", dataset, "--out",
         str(tmp_path / "tuned"), "--epochs", "1", "--max-train", "8", "--quiet"])  # fmt: skip
    config = json.loads((tmp_path / "tuned" / "config.json").read_text())
    assert config["stage"] == "2.1" and config["run"]["init"] == "bundled:plato2"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--agent", "a=bundled:gpt"], "no such bundled model"),
        (["--agent", "a=bundled:plato2,evaluator=bundled:retrieval"], "a shipped evaluator comes with bundled:plato2"),
        (["--agent", "a=bundled:retrieval,index=bundled:plato2"], "a shipped index comes with bundled:retrieval"),
        (["--agent", "a=bundled:plato2,backward=nowhere/back"], "nowhere/back"),
        (["--agent", "a=bundled:plato2", "--report", "{file}/report"], "is not a folder"),
    ],
)
def test_what_the_report_needs_is_checked_before_the_work(args, message, tmp_path):
    (tmp_path / "file").write_text("a file, not a folder")
    args = [a.format(file=tmp_path / "file") for a in args]
    result = runner.invoke(app, ["eval", "static", PERSONACHAT, "--format", "parlai", *args, "--out",
                                 str(tmp_path / "log.jsonl"), "--quiet"])  # fmt: skip
    assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output
    assert not (tmp_path / "log.jsonl").exists()  # nothing was answered


def test_the_retrieval_agent_never_answers_with_a_turn_of_the_dialogue():
    from confab.agents import load_agent
    from confab.retrieval.agent import _repeats

    assert _repeats("Same to you! What do you do for a living?", ["what do you do for a living ?"])
    assert _repeats("Nice to meet you! What do you do for a living?", ["what do you do for a living ?"])  # F1 0.75
    assert _repeats("What's your favorite food?", ["what is your favorite food ?"])
    assert _repeats("What do you do for a living? I'm in the army.", ["hello !", "what do you do for a living ?"])
    assert not _repeats("i am good , how are you ?", ["how are you ?"])
    assert not _repeats("how are you ? i am fine", ["how are you ?"])  # three words: a greeting echoed, then answered
    agent = load_agent("bundled:retrieval")
    persona = ["i work as a nurse at night .", "i have two dogs ."]
    for question in ("What do you do for a living?", "do you have any pets ?", "hi , how are you today ?"):
        history = ["hello !", "hi there !", question]
        reply = agent.respond(history, persona)
        assert len(reply.candidates) == agent.top_k and reply.text == reply.candidates[0].text
        assert not any(_repeats(c.text, history) for c in reply.candidates), question
        assert not any(c.text.lower().strip(" ?") == question.lower().strip(" ?") for c in reply.candidates)



def test_the_shipped_plato_checkpoints_load_as_their_networks_with_exactly_their_heads():
    """They were saved as one module with every stage's heads (no "network" in config.json): the generator loads
    as a latent `Generator` and the evaluator as a dual `Evaluator`, the other network's heads left behind."""
    from confab.bundled import resolve
    from confab.generation import checkpoint
    from confab.generation.model import Evaluator, Generator

    generator, _, meta = checkpoint.load("bundled:plato2")
    assert meta.extra["layout"] == "one-module" and meta.stage == "2.1"  # the old layout, read as such
    assert isinstance(generator, Generator) and generator.heads() == ("latents", "recognition_norm", "recognize", "bow")
    evaluator, _, meta = checkpoint.load(resolve("bundled:plato2")[0].parent / "plato2-evaluator")
    assert isinstance(evaluator, Evaluator) and evaluator.heads() == ("similarity",) and meta.stage == "2.2"
    assert not any(k.startswith(("latents", "recognize", "bow", "pooler")) for k in evaluator.state_dict())
