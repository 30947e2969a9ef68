import numpy as np
import pytest

from confab.data import persona
from confab.data.persona import positive_sentences


def test_sentence_splitting_and_cheap_rules():
    assert persona.sentences("I like tea. Do you?\nMy cat is old!  Yes") == [
        "I like tea.",
        "Do you?",
        "My cat is old!",
        "Yes",
    ]
    assert persona.cheap_rules_ok(["i", "have", "two", "dogs"])
    assert not persona.cheap_rules_ok(["you", "have", "two", "dogs"])  # no I or my
    assert not persona.cheap_rules_ok(["I"] * 21) and not persona.cheap_rules_ok(["I", "am"])
    assert persona.candidates("I have a dog. It barks a lot at night. My name is Bo.", "rules") == [
        "I have a dog.",
        "My name is Bo.",
    ]
    assert persona.candidates("I have a dog. It barks a lot at night.", "random-from-user") == [
        "I have a dog.",
        "It barks a lot at night.",
    ]


@pytest.fixture(scope="module")
def tagger():
    return persona.PosFilter()


def test_part_of_speech_rules(tagger):
    ok = tagger(["I am a doctor.", "My dog is a golden retriever.", "I work at a bakery downtown."])
    assert ok == [True, True, True]
    assert tagger(["I , my , I , my", "my my my oh my"]) == [False, False]  # no verb


def test_part_of_speech_rules_are_the_whole_pipelines_on_a_real_month(tagger):
    """The remembered attribute ruler gives the parts of speech of the ruler run on every sentence."""
    from pathlib import Path

    from confab.data.records import Problems
    from confab.data.sources import pushshift

    from .conftest import shared_file

    comments = list(pushshift.read(Path(shared_file("reddit/RC_2006-01.zst")), "x", Problems()))
    sentences = sorted({s for m in comments for s in persona.sentences(m.text)})
    assert len(sentences) > 5000
    fast, whole = tagger(sentences), tagger.with_ruler(sentences)
    assert fast == whole and 0.2 < sum(fast) / len(fast) < 0.9


def test_sentences_asked_again_are_remembered_not_tagged_again():
    """The tagger's memory: the same decisions as tagging every sentence, each distinct sentence tagged once while
    remembered, and no more than `cache` remembered (cache=0: once per call)."""
    from pathlib import Path

    from confab.data.records import Problems
    from confab.data.sources import pushshift

    from .conftest import shared_file

    comments = list(pushshift.read(Path(shared_file("reddit/RC_2006-01.zst")), "x", Problems()))
    sentences = [s for m in comments for s in persona.sentences(m.text)][:1500]
    asked = sentences + sentences[::-1] + ["I am a doctor."] * 3
    plain, remembering, small = persona.PosFilter(cache=0), persona.PosFilter(), persona.PosFilter(cache=100)
    expected = plain(asked)
    assert plain(asked) == expected and plain.tagged_new == 2 * len(set(asked))  # within a call only
    got = remembering(asked[:1000]) + remembering(asked[1000:])
    assert got == expected and small(asked[:1000]) + small(asked[1000:]) == expected
    assert remembering.tagged == len(asked) and remembering.tagged_new == len(set(asked))
    assert len(small._known) <= 100 and len(set(asked)) < small.tagged_new < len(asked)
    assert sum(expected) > 100 and remembering.seconds > 0
    often = persona.PosFilter(cache=4)  # a sentence asked again and again stays, however many come between
    distinct = [t for t in dict.fromkeys(sentences) if t != "I am a doctor."][:300]
    for i in range(0, len(distinct), 2):
        often(["I am a doctor.", *distinct[i : i + 2]])
    assert often.tagged_new == 1 + len(distinct) and len(distinct) == 300


def test_the_memory_of_decisions_keeps_its_size_and_its_answers():
    """Every decision remembered is the one given, no more are kept than the size, a set keeps the texts asked
    most recently (within a call too), and a memory four times the texts forgets few of them."""
    from confab.data.decisions import DecisionCache

    rng = np.random.default_rng(0)
    texts = [f"I like {w} number {i}." for i, w in enumerate(rng.choice(["tea", "dogs", "maths"], 20_000))]
    truth = dict(zip(texts, (rng.random(len(texts)) < 0.5).tolist(), strict=True))
    small, large, one_set = DecisionCache(1000), DecisionCache(80_000), DecisionCache(4)
    for start in range(0, len(texts), 500):
        batch = texts[start : start + 500]
        for memory in (small, large):
            memory.remember(batch, [truth[t] for t in batch])
            assert len(memory) <= memory.sets * 4
        one_set.remember(["I am a doctor.", *batch[:2]], [True, truth[batch[0]], truth[batch[1]]])
    for memory in (small, large):
        known, decided = memory.lookup(texts)
        assert all(truth[t] == d for t, k, d in zip(texts, known, decided, strict=True) if k)
    assert len(small) == 1000 and small.lookup(texts)[0].sum() == 1000
    assert large.lookup(texts)[0].mean() > 0.97
    # asked in every call, two others each time: kept (a set forgetting its oldest would have lost it)
    assert [a.tolist() for a in one_set.lookup(["I am a doctor."])] == [[True], [True]] and len(one_set) == 4
    one_set.remember(list("abcde"), [True] * 5)  # five in one call: the last four stay, the last first
    assert one_set.lookup(list("abcde"))[0].tolist() == [False, True, True, True, True]
    assert one_set._keys[0, 0] == np.array([hash("e")]).view(np.uint64)[0]


def test_part_of_speech_rules_in_two_processes_are_one_processes(tagger):
    """A large call shared with a helper process answers as one process does, in order; a missing model is named."""
    from pathlib import Path

    from confab.data.records import Problems
    from confab.data.sources import pushshift

    from .conftest import shared_file

    comments = list(pushshift.read(Path(shared_file("reddit/RC_2006-01.zst")), "x", Problems()))
    sentences = [s for m in comments for s in persona.sentences(m.text)][: 2 * persona.PARALLEL_FROM]
    with persona.PosFilter(helpers=2) as two:
        assert len(two._helpers) == 2 and two._nlp is None  # the caller tags nothing itself
        assert two(sentences) == tagger(sentences) and two(sentences[:10]) == tagger(sentences[:10])
    assert two._helpers == []
    with persona.PosFilter(helpers=2) as broken:
        broken._helpers[0][0].kill()
        with pytest.raises(RuntimeError, match="a tagging process ended"):
            broken(sentences)
    with pytest.raises(RuntimeError, match="no_such_model_here"):
        persona.PosFilter("no_such_model_here")


@pytest.mark.trains
def test_classifier_prefers_persona_like_sentences(seed):
    positives = positive_sentences(None)
    assert len(positives) == 602
    negatives = [
        "the game last night was a total disaster for the defense .",
        "source ? that link is broken .",
        "lol this thread again",
        "what time does the store open on sundays ?",
        "that is not how taxes work .",
        "the sequel was better than the original movie .",
        "check the sidebar before posting please .",
        "anyone else getting errors on the new update ?",
        "this is the best comment in the thread .",
        "the price went up again this month .",
        "no , the bridge was closed for repairs .",
        "the first season is free to stream .",
    ] * 20
    clf = persona.PersonaClassifier.train(positives, negatives, threshold=0.5, seed=seed)
    assert clf.metrics["heldout_accuracy"] > 0.8
    assert clf.score("i have two dogs and i love hiking .") > clf.score("the bridge was closed for the game .")
    restored = persona.PersonaClassifier.from_dict(clf.to_dict())
    assert restored.score("i like cats .") == clf.score("i like cats .")
    with pytest.raises(ValueError, match="at least 10"):
        persona.PersonaClassifier.train(positives[:3], negatives)


def test_persona_for_example_never_uses_the_response_itself():
    sentences = [("I am a doctor.", "t1_a"), ("I like tea.", "t1_b"), ("My cat is old.", "t1_c")]
    assert persona.persona_for_example(sentences, "t1_a", "Hi. I like tea.", 5) == ["My cat is old."]
    assert persona.persona_for_example(sentences, "t1_z", "Hello", 2) == ["I am a doctor.", "I like tea."]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_write_stage_gives_each_example_persona_for_example(seed):
    """split_partition's join of examples and persona sentences against the per-example rule, on random users
    whose sentences come from, or occur in, some of their responses; and the split of held-out ids."""
    import random

    import pyarrow as pa

    from confab.data.build import BuildConfig
    from confab.data.schema import EXAMPLE_SCHEMA
    from confab.data.split import held_table
    from confab.data.stages import PERSONA_SCHEMA, Plan, split_partition

    rng = random.Random(seed)
    words = ["I like tea.", "My cat is old.", "I am a doctor.", "tea", "Hi.", "I run."]
    people = {f"u{i}": [(rng.choice(words) + str(rng.randint(0, 3)), f"t1_{rng.randint(0, 30)}")
                        for _ in range(rng.randint(0, 8))] for i in range(6)}  # fmt: skip
    rows = []
    for j in range(60):
        author = f"u{rng.randint(0, 7)}"  # u6, u7: no persona
        own = people.get(author, [])
        response = " ".join(rng.choice([s for s, _ in own] or words) for _ in range(2))
        rows.append({"id": f"t1_{rng.randint(0, 30)}x{j}" if j % 3 else f"t1_{j % 31}", "context": ["c"],
                     "response": response, "response_author": author, "persona": None})  # fmt: skip
    rng.shuffle(rows)
    authors = sorted(a for a in people if people[a])
    table = pa.table({"author": authors, "sentences": [[s for s, _ in people[a]] for a in authors],
                      "message_ids": [[m for _, m in people[a]] for a in authors]}, schema=PERSONA_SCHEMA)  # fmt: skip
    held = {rows[0]["id"]: "valid", rows[1]["id"]: "test"}
    plan = Plan(BuildConfig(inputs=["x"], persona="random-from-user", max_persona=3), 1)
    out, stats, _ = split_partition(pa.Table.from_pylist(rows, schema=EXAMPLE_SCHEMA), table, held_table(held), plan)
    got = {r["id"]: (split, r["persona"]) for split, t in out.items() for r in t.to_pylist()}
    for r in rows:
        expected = persona.persona_for_example(people.get(r["response_author"], []), r["id"], r["response"], 3)
        assert got[r["id"]] == (held.get(r["id"], "train"), expected)
    assert [r["id"] for r in out["train"].to_pylist()] == sorted(r["id"] for r in rows if r["id"] not in held)
    assert stats["users_with_persona"] == len(authors) and stats["valid_examples"] == stats["test_examples"] == 1


def test_rank_key_is_a_pure_function():
    assert persona.rank_key(0, "a", "b") == persona.rank_key(0, "a", "b") != persona.rank_key(1, "a", "b")


CANDIDATE_EDGES = [
    "I am here. My dog!  ok\nI  like\x1cit . ",
    "a.\n",
    "x \n\n. y",
    "..  I do my thing here",
    "i_my i-my is it so",
    "\x00I have a cat at home.",
    "Ünï I am café man ok.",
    "",
    "   ",
    "I.my.I.my a b c",
    "what? I said my name is bob!",
    "MY car is red and fast.\r\nI drive it daily to work",
    "one two three four five six seven eight nine ten i " * 3,
]


@pytest.mark.parametrize("setup", ["rules", "random-from-user", "none"])
def test_candidates_over_whole_columns_are_each_texts(setup):
    assert grouped(CANDIDATE_EDGES, setup) == [persona.candidates(t, setup) for t in CANDIDATE_EDGES]


@pytest.mark.parametrize("setup", ["rules", "random-from-user"])
def test_candidates_over_whole_columns_on_a_real_month(setup):
    from pathlib import Path

    from confab.data.records import Problems
    from confab.data.sources import pushshift

    from .conftest import shared_file

    texts = [m.text for m in pushshift.read(Path(shared_file("reddit/RC_2006-01.zst")), "x", Problems())]
    expected = [persona.candidates(t, setup) for t in texts]
    assert grouped(texts, setup) == expected and sum(map(len, expected)) > 1000


def grouped(texts: list[str], setup: str) -> list[list[str]]:
    """`candidates_of`'s flat rows and sentences, grouped back per text."""
    rows, sentences = persona.candidates_of(texts, setup)
    out: list[list[str]] = [[] for _ in texts]
    for row, sentence in zip(rows.tolist(), sentences, strict=True):
        out[row].append(sentence)
    assert list(rows) == sorted(rows)
    return out
