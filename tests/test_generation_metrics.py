import json

import pytest

from confab.eval.generation import distinct, english_words, generation_metrics, unigram_f1
from confab.eval.responses import read_log, write_responses
from confab.replies import Candidate, Reply
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


NURSE = ["i work as a nurse at night .", "i have two dogs ."]
PILOT = ["i fly planes for a living .", "my favorite food is sushi ."]


def test_a_reply_that_uses_its_persona_covers_more_than_one_that_does_not():
    from confab.eval.generation import persona_coverage

    # content words of "i work as a nurse at night": work, nurse, night; the reply says two of the three
    assert persona_coverage("I'm a nurse, I work nights mostly.", NURSE) == pytest.approx(2 / 3)
    assert persona_coverage("i have two dogs , they are great", NURSE) == pytest.approx(1.0)  # "two" is a stop word
    assert persona_coverage("that sounds like fun , tell me more !", NURSE) == 0.0
    assert persona_coverage("anything", []) == 0.0


def test_persona_use_subtracts_the_coverage_of_another_examples_persona():
    from confab.eval.generation import persona_use, shuffled_personas

    personas = [NURSE, NURSE, PILOT]
    # the control of each example is the next one's persona that differs from its own, cyclically
    assert shuffled_personas(personas) == [PILOT, PILOT, NURSE]
    copying = ["i am a nurse and i work at night", "my two dogs keep me busy", "i fly planes for a living"]
    result = persona_use(copying, personas)
    assert result["persona_cover"] == pytest.approx((1 + 1 + 1) / 3)
    assert result["persona_cover_shuffled"] == 0.0 and result["persona_use"] == pytest.approx(1.0)
    # replies that say the other persona: covered by the control, so persona use is negative
    swapped = persona_use(["i fly planes", "sushi is my favorite", "i am a nurse at night"], personas)
    assert swapped["persona_use"] < 0 < swapped["persona_cover_shuffled"]
    # generic replies score zero however often they are given
    assert persona_use(["i like that ."] * 3, personas)["persona_use"] == 0.0
    with pytest.raises(ValueError, match="two different personas"):
        shuffled_personas([NURSE, NURSE])


def test_generation_metrics_report_persona_use_when_the_log_has_personas():
    from confab.eval.responses import log_metrics

    replies = ["i am a nurse", "planes are my job , i fly them"]
    rows = [{"response": r, "reference": "x", "persona": p} for r, p in zip(replies, [NURSE, PILOT], strict=True)]
    metrics = log_metrics(rows)
    # own personas: nurse 1 of (work, nurse, night), planes and fly 2 of (fly, planes, living); the others: none
    assert metrics["persona_use"] == pytest.approx((1 / 3 + 2 / 3) / 2) and "f1" in metrics
    rows[0]["persona"] = []
    assert "persona_use" not in log_metrics(rows)


def test_english_words_counts_dictionary_words_with_their_contractions():
    # the shipped generator's old reply is English words; word salad of subword pieces is not
    assert english_words(["i have a cat? my dad is in the home on my house, but my mother is my husband"]) == 1.0
    assert english_words(["I don't know, I'm a nurse at Netflix."]) == 1.0  # contractions whole, names it knows
    assert english_words(["qwv lol zzkt", "fine"]) == pytest.approx(1 / 4)  # not words, chat shorthand
    assert english_words(["", "123 ?!"]) == 0.0
    assert generation_metrics(["fine thanks", "xqz"])["english_words"] == pytest.approx(2 / 3)
