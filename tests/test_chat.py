import json
import os
import sys

import pytest
from typer.testing import CliRunner

from confab.chat import run_chat
from confab.cli import app
from confab.replies import Candidate, Reply


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


def test_chat_commands_change_persona_and_history(tmp_path):
    agent = Echo()
    script = ["hello", "/persona add i like tea.", "how are you?", "/candidates", "/persona set 1 i am a dog.",
              "/persona del 2", "/persona del 5", "/persona", "/save " + str(tmp_path / "t.json"), "/reset", "hi",
              "/nonsense", "/persona clear"]  # fmt: skip
    console = Script(script)
    history = run_chat(agent, ["i am a cat."], console)
    assert agent.calls[0] == (["hello"], ["i am a cat."])
    assert agent.calls[1] == (["hello", "you said hello", "how are you?"], ["i am a cat.", "i like tea."])
    assert agent.calls[2] == (["hi"], ["i am a dog."])
    assert any("0.500  other" in line for line in console.out)
    assert any("N is a sentence number, 1 to 1" in line for line in console.out)
    assert any("unknown command /nonsense" in line for line in console.out)
    assert history == ["hi", "you said hi"]
    saved = json.loads((tmp_path / "t.json").read_text())
    assert saved["persona"] == ["i am a dog."] and [t["speaker"] for t in saved["turns"]] == ["user", "bot"] * 2
    assert saved["turns"][1]["candidates"][1] == {"text": "other", "score": 0.5}


def test_index_build_and_chat_from_the_command_line(small_retrieval):
    model, index = small_retrieval
    result = CliRunner().invoke(app, ["chat", "--agent", f"{model},index={index}", "--persona",
                                      "i like to ski."], input="hi there\n/candidates\n/quit\n")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "bot>" in result.output and result.output.count("  ") > 3


def test_the_terminal_chat_through_a_pseudo_terminal(small_retrieval, tmp_path):
    """A real terminal session: prompt, replies, persona commands, line history (arrow up) and /save."""
    pexpect = pytest.importorskip("pexpect", reason="pexpect is not installed (pip: pexpect)")
    model, index = small_retrieval
    args = ["-m", "confab.cli", "chat", "--agent", f"{model},index={index}", "--persona", "i like to ski."]
    env = {**os.environ, "TERM": "dumb", "NO_COLOR": "1"}
    child = pexpect.spawn(sys.executable, args, encoding="utf-8", timeout=60, dimensions=(40, 120), env=env)
    child.expect("you> ")
    child.sendline("hi there")
    child.expect(r"bot> (.+)\r\n")
    first_reply = child.match.group(1).strip()
    child.expect("you> ")
    child.sendline("/persona add i have a dog.")
    child.expect(r"2\. i have a dog\.")
    child.sendline("/persona del 2")
    child.expect("you> ")
    child.sendline("\x1b[A")  # arrow up: the last line again, whose sentence 2 is gone now
    child.expect("N is a sentence number, 1 to 1")
    child.sendline("/candidates")
    child.expect(first_reply)
    child.sendline("/save " + str(tmp_path / "dialogue.json"))
    child.expect("saved")
    child.sendline("/quit")
    child.expect(pexpect.EOF)
    saved = json.loads((tmp_path / "dialogue.json").read_text())
    assert saved["persona"] == ["i like to ski."] and saved["turns"][0] == {"speaker": "user", "text": "hi there"}
    assert saved["turns"][1]["text"] == first_reply and len(saved["turns"][1]["candidates"]) == 3
