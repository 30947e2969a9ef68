from typer.testing import CliRunner

from confab.agents import Candidate, Reply
from confab.chat import run_chat
from confab.cli import app
from confab.retrieval import checkpoint
from confab.retrieval.model import PersonaRanker, RankerConfig
from confab.retrieval.tokens import WordTokenizer


class Echo:
    def __init__(self):
        self.calls = []

    def respond(self, history, persona):
        self.calls.append((list(history), list(persona)))
        return Reply(
            f"you said {history[-1]}", [Candidate(f"you said {history[-1]}", 1.0), Candidate("other", 0.5)], 0.0
        )


class Script:
    """A console whose input is a script."""

    def __init__(self, lines):
        self.lines, self.out = list(lines), []

    def input(self, prompt=""):
        if not self.lines:
            raise EOFError
        return self.lines.pop(0)

    def print(self, *args, **kwargs):
        self.out.append(" ".join(str(a) for a in args))


def test_chat_commands_change_persona_and_history():
    agent, console = Echo(), Script(["hello", "/persona i like tea.", "how are you?", "/candidates", "/reset", "hi"])
    history = run_chat(agent, ["i am a cat."], console)
    assert agent.calls[0] == (["hello"], ["i am a cat."])
    assert agent.calls[1] == (["hello", "you said hello", "how are you?"], ["i am a cat.", "i like tea."])
    assert agent.calls[2] == (["hi"], ["i am a cat.", "i like tea."])
    assert any("0.500  other" in line for line in console.out)
    assert history == ["hi", "you said hi"]


def test_index_build_and_chat_from_the_command_line(fixtures, tmp_path):
    runner = CliRunner()
    tok = WordTokenizer.build(["hello there", "i like ski", "what do you do"], 100)
    checkpoint.save(tmp_path / "ck", PersonaRanker(RankerConfig(encoder="bow", vocab_size=len(tok))), tok, {})
    data = str(fixtures / "personachat_fixture.txt")
    result = runner.invoke(app, ["index", "build", "--model", str(tmp_path / "ck"), "--data", data, "--out",
                                 str(tmp_path / "idx")])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "indexed 3 responses" in result.output  # the 3 bot turns that answer something
    result = runner.invoke(app, ["chat", "--model", str(tmp_path / "ck"), "--index", str(tmp_path / "idx"),
                                 "--persona", "i like to ski."], input="hi there\n/candidates\n/quit\n")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "bot>" in result.output and result.output.count("  ") > 3
