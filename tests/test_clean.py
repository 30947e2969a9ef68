import random
from collections import Counter

import pyarrow as pa
import pytest

from confab.data.clean import (
    RULES,
    CleanConfig,
    Cleaner,
    alpha_ratio,
    overlap,
    overlap_shares,
    text_hash,
    text_hashes,
)
from confab.data.records import Message, Problems, message_row
from confab.data.schema import MESSAGE_SCHEMA
from confab.data.sources import READERS

from .conftest import shared_file


def msg(text, author="someone", subreddit="AskReddit", id="t1_x", parent_id="t3_t"):
    return Message(id=id, parent_id=parent_id, thread_id="t3_t", author=author, text=text, subreddit=subreddit)


PARENT = msg("I love running in the park with my dog every morning.", id="t1_p")
CASES = {
    "deleted": msg("[removed]"),
    "bot": msg("Your comment was removed by the moderators.", author="AutoModerator"),
    "quarantined": msg("This is an ordinary sentence here.", subreddit="The_Donald"),
    "too_many_chars": msg("word " * 300),
    "token_count": msg("lol"),
    "long_word": msg("This is " + "a" * 31 + " long."),
    "alpha_ratio": msg("1234 5678 !!!! ok"),
    "url": msg("See www.example.org for the rest of it."),
    "special_string": msg("Ask over in r/running about shoes."),
    "offensive": msg("What a bastard that guy is, honestly."),
    "repeated": msg("Same   OLD story here."),
    "parent_overlap": msg("I love running in the park with my dog."),
}


@pytest.mark.parametrize("rule", RULES)
def test_each_rule_fires_on_its_case_and_can_be_turned_off(rule):
    frequent = {text_hash("same old story here.")}
    assert Cleaner(CleanConfig(), frequent).check(CASES[rule], PARENT) == rule
    kept = Cleaner(CleanConfig(skip=[rule]), frequent).check(CASES[rule], PARENT)
    assert kept != rule


def test_ordinary_messages_pass_every_rule():
    cleaner = Cleaner(CleanConfig())
    for text in [
        "That sounds great! I am a doctor and I recommend running.",
        "I'd say and/or both work, 2 ways.",
        "Ha, my cat does the same thing every night.",
    ]:
        assert cleaner.check(msg(text), PARENT) is None, text


def test_bot_names_and_lists_are_case_insensitive(tmp_path):
    cleaner = Cleaner(CleanConfig())
    assert cleaner.check(msg("A normal looking reply to you.", author="automoderator"), None) == "bot"
    assert cleaner.check(msg("A normal looking reply to you.", author="weather_bot"), None) == "bot"
    assert cleaner.check(msg("A normal looking reply to you.", author="abbott"), None) is None
    own = tmp_path / "bots.txt"
    own.write_text("# my bots\nfriendly_helper\n")
    assert Cleaner(CleanConfig(bots=str(own))).check(msg("A normal reply.", author="Friendly_Helper"), None) == "bot"


def test_helpers():
    assert alpha_ratio("ab 12") == 0.5 and alpha_ratio("") == 1.0
    assert overlap("the cat", "The cat sat") == 1.0 and overlap("a dog", "a cat") == 0.5
    assert text_hash("Hello  World") == text_hash("hello world") != text_hash("hello worlds")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_overlap_over_a_column_is_overlap_of_each_pair(seed):
    """Token keys from the column's bytes against the token sets of `overlap`: case, runs of letters and digits,
    punctuation and `_` as tokens of their own, \\x1c-\\x1f as space, empty texts, a text its own parent."""
    import numpy as np

    rng = random.Random(seed)
    pieces = ["ab", "AB", "c", "42", " ", "  ", "\t", "\n", "\x1c", ",", "_", "'", "x_y", "Dog", "dog", ".", "\x01"]
    texts = ["", "a"] + ["".join(rng.choices(pieces, k=rng.randint(0, 30))) for _ in range(9000)]
    rows = np.array(rng.sample(range(len(texts)), 3000))
    parents = np.array([rng.randrange(len(texts)) if i % 7 else r for i, r in enumerate(rows)])
    expected = [overlap(texts[r], texts[p]) for r, p in zip(rows, parents, strict=True)]
    assert overlap_shares(pa.array(texts), rows, parents).tolist() == expected


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_text_hashes_of_a_column_are_the_hash_of_each_normalised_text(seed):
    """Spaces collapsed over the column's bytes (ASCII) or by regex (other text) hash like
    `" ".join(text.lower().split())` hashed alone: runs, ends, \\x1c-\\x1f, Unicode spaces, empty texts."""
    rng = random.Random(seed)
    alphabet = ["a", "B", " ", "\t", "\n", "\x1c", "\x1f", ".", "\u00a0", "\u2028", "\u3000", "É", "ß"]
    texts = ["", " ", "  a  ", "a"] + ["".join(rng.choices(alphabet, k=rng.randint(0, 12))) for _ in range(3000)]
    texts = [t for t in texts if rng.random() < 0.5 or t.isascii()]  # ASCII slices and mixed ones
    expected = text_hashes(pa.array([" ".join(t.lower().split()) for t in texts])).tolist()
    assert text_hashes(pa.array(texts)).tolist() == expected
    assert [text_hash(t) for t in texts[:50]] == expected[:50]
    by_chunks = pa.chunked_array([pa.array(texts[:100]), pa.array(texts[100:])])
    assert text_hashes(by_chunks).tolist() == expected


def table_of(messages: list[Message]) -> pa.Table:
    return pa.Table.from_pylist([message_row(m) for m in messages], schema=MESSAGE_SCHEMA)


def per_record(cleaner: Cleaner, messages: list[Message]) -> list[str | None]:
    """`check` of each message with its parent as build_thread links them: the first message of that id in the
    thread, none when it names itself."""
    first: dict[tuple, Message] = {}
    for m in messages:
        first.setdefault((m.thread_id, m.id), m)
    return [cleaner.check(m, None if m.parent_id == m.id else first.get((m.thread_id, m.parent_id))) for m in messages]


# texts where Python's and Rust's regexes, or bytes and characters, could part: separators \x1c-\x1f (space to
# Python), other control characters, non-ASCII letters, digits and spaces, case, runs at the ends, empty text
EDGES = [
    "",
    " ",
    "\x1c\x1d",
    "a\x1cb c",
    "one\x1ftwo three four",
    "tab\tand\x0bvertical\x0cfeed",
    "x\x00y\x7fz!",
    "naïve café ok",
    "Ünïcödé wörds hére",
    "٣٤ digits ١٢",
    "non\xa0breaking space",
    "ＦＵＬＬ width",
    "I'M SHOUTING HERE",
    "_under_score_",
    "__",
    "a" * 30,
    "a" * 31,
    "é" * 31,
    "b\x1c" + "c" * 30,
    "w" * 29 + "\x1c",
    "www.x",
    "wwwx",
    "go to http://x.y",
    "Mail@example.COM today",
    "example.com/path",
    "sub.example.co.uk",
    "-.com and --.org",
    "x-.com",
    "a .com b",
    ".NET is fine",
    "foo.company",
    "A_B.TV/x",
    "www. space",
    "in r/news",
    "and/or r/x",
    "ur/x",
    "/r/x",
    "&amp; more",
    "BASTARD!",
    "bastardly",
    "a-bastard-b",
    "[deleted] ",
    " [removed]\n",
    "[deleted]\x1c",
    "123 456 789 ab",
    "!!! ??? ...",
    "ok " * 130,
    "ok " * 127 + "ok",
]


def test_the_rules_over_whole_columns_are_check_row_by_row(fixtures):
    messages = list(READERS["pushshift"].read(fixtures / "RC_2020-01_fixture.jsonl", "f", Problems()))
    messages += [*CASES.values(), PARENT, msg("Same old story here.", id="t1_p2", parent_id="t1_p2")]
    for i, text in enumerate(EDGES):  # each alone, and each as the parent of the next
        messages.append(msg(text, id=f"t1_e{i}", parent_id=f"t1_e{i - 1}"))
        messages.append(
            msg(text, author=text[:20] or None, subreddit=text[:10] or None, id=f"t1_f{i}", parent_id="t1_p")
        )
    messages.append(msg("a later copy of an id", id="t1_p"))  # a duplicate id: the first is the parent
    for config in (CleanConfig(), CleanConfig(skip=["token_count", "deleted"], max_word_chars=5, min_alpha=0.2)):
        cleaner = Cleaner(config, {text_hash("same old story here.")})
        assert cleaner.first_rules(table_of(messages)) == per_record(cleaner, messages)
    assert Cleaner(CleanConfig()).first_rules(table_of([])) == []


def test_the_rules_over_whole_columns_on_a_real_month():
    messages = list(READERS["pushshift"].read(shared_file("reddit/RC_2006-01.zst"), "f", Problems()))
    cleaner = Cleaner(CleanConfig())
    fast, slow = cleaner.first_rules(table_of(messages)), per_record(cleaner, messages)
    assert fast == slow
    assert Counter(slow)["deleted"] > 100 and Counter(slow)["parent_overlap"] > 0  # measured: 528 and 5
