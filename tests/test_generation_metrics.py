import json

import pytest

from confab.agents import Candidate, Reply
from confab.eval.generation import distinct, generation_metrics, unigram_f1
from confab.eval.responses import read_log, write_responses
from tests.scripted import Scripted


def test_distinct_is_corpus_level_by_hand():
    texts = ["I like dogs .", "i like cats"]  # words: i like dogs . / i like cats (lower-cased)
    assert distinct(texts, 1) == pytest.approx(5 / 7)  # i, like, dogs, ., cats
    assert distinct(texts, 2) == pytest.approx(4 / 5)  # (i like) twice, (like dogs), (dogs .), (like cats)
    assert distinct([], 2) == 0.0 and distinct(["one"], 2) == 0.0


def test_unigram_f1_drops_articles_and_punctuation():
    assert unigram_f1("The cat sat .", "a cat sat down") == pytest.approx(2 * 1.0 * (2 / 3) / (1 + 2 / 3))
    assert unigram_f1("hello", "bye") == 0.0


def test_generation_metrics_and_latent_usage():
    m = generation_metrics(["a b", "a c d"], ["a b", "x"], [3, 3])
    assert m["avg_length"] == 2.5 and m["latent_usage"] == {3: 1.0} and m["latents_chosen"] == 1
    assert "f1" in m and "latent_usage" not in generation_metrics(["a"], None, [None])
    with pytest.raises(ValueError, match="no responses"):
        generation_metrics([])


class Echo:
    """An agent that answers with its sampling seed, to check resumed logs."""

    def __init__(self, fail_at=None):
        from confab.generation.decode import DecodeConfig

        self.decode, self.calls, self.fail_at = DecodeConfig(), 0, fail_at

    def respond(self, history, persona):
        self.calls += 1
        if self.calls == self.fail_at:
            raise KeyboardInterrupt  # killed mid-run
        text = f"seed {self.decode.seed} after {history[-1]}"
        return Reply(text, [Candidate(text, 0.5, {"z": self.decode.seed % 20})], 0.0)


def test_a_killed_log_resumes_to_the_unbroken_one(tmp_path):
    examples = [{"id": i, "context": [f"turn {i}"], "persona": [], "response": "ref"} for i in range(6)]
    whole = write_responses(Echo(), examples, tmp_path / "whole.jsonl", seed=1)
    with pytest.raises(KeyboardInterrupt):
        write_responses(Echo(fail_at=4), examples, tmp_path / "cut.jsonl", seed=1)
    partial = tmp_path / "cut.jsonl.partial"
    assert not (tmp_path / "cut.jsonl").exists() and len(partial.read_text().splitlines()) == 3
    with open(partial, "a") as f:
        f.write('{"id": 3, "torn')  # a line cut by the kill
    write_responses(Echo(), examples, tmp_path / "cut.jsonl", seed=1)
    assert (tmp_path / "cut.jsonl").read_text() == whole.read_text() and not partial.exists()
    rows = read_log(whole)
    assert [r["z"] for r in rows] == [(1_000_003 + i) % 20 for i in range(6)]


def test_bad_log_lines_are_named(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_text(json.dumps({"response": "hi"}) + "\n" + json.dumps({"text": "no"}) + "\n")
    with pytest.raises(ValueError, match=r"log.jsonl:2: needs a 'response'"):
        read_log(log)


def test_selfchat_alternates_speakers_from_the_start_and_resumes(tmp_path):
    from confab.eval.responses import generated_turns
    from confab.eval.selfchat import dialogue, vinyals_le_questions, write_selfchats

    questions = vinyals_le_questions()
    assert len(questions) == 200 and questions[0] == "what is two plus two ?"
    model, partner = Scripted("bot"), Scripted("friend")
    said = dialogue(model, partner, "hello there", 5, (["i am p1 ."], ["i am p2 ."]), seed=0)
    assert [t["speaker"] for t in said] == ["P1", "P2", "P1", "P2", "P1"]
    assert [t["text"].split()[0] for t in said[1:]] == ["bot", "friend", "bot", "friend"]
    assert said[1]["text"] == "bot heard hello (1)" and said[4]["z"] == 4
    assert all(p == ["i am p2 ."] for _, p in model.seen) and all(p == ["i am p1 ."] for _, p in partner.seen)
    with pytest.raises(ValueError, match="at least one answer"):
        dialogue(model, model, "hi", 1, ([], []), 0)
    whole = write_selfchats(Scripted("bot"), questions[:3], tmp_path / "a.jsonl", turns=4)
    rows = read_log(whole)
    assert len(rows) == 3 and all(len(r["turns"]) == 4 and r["turns"][0]["text"] == r["start"] for r in rows)
    assert len(generated_turns(rows)) == 9  # the starts are not generated
    (tmp_path / "b.jsonl.partial").write_text(whole.read_text().splitlines()[0] + "\n")
    resumed = Scripted("bot")
    write_selfchats(resumed, questions[:3], tmp_path / "b.jsonl", turns=4)
    assert len(resumed.seen) == 6 and (tmp_path / "b.jsonl").read_text() == whole.read_text()
