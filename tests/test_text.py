from collections import Counter

import pytest

from confab.text import Dictionary, TokenCounter, tokenize, truncate_tokens


def test_tokenize_pads_special_characters():
    assert tokenize("I don't like r/news, ok?!") == [
        "I",
        "don",
        "'",
        "t",
        "like",
        "r",
        "/",
        "news",
        ",",
        "ok",
        "?",
        "!",
    ]
    assert tokenize("snake_case   and\ttabs") == ["snake", "_", "case", "and", "tabs"]
    assert tokenize("café naïve 42") == ["café", "naïve", "42"]
    assert tokenize("") == []


def test_truncate_keeps_original_text_up_to_the_nth_token():
    text = "Hello,   world! How are you?"
    assert truncate_tokens(text, 3) == "Hello,   world"
    assert truncate_tokens(text, 100) == text
    assert truncate_tokens(text, 0) == ""
    assert len(tokenize(truncate_tokens("a " * 300, 100))) == 100


def test_truncating_a_column_equals_truncating_each_text():
    import random

    import pyarrow as pa

    from confab.text.tokenize import truncate_column

    rng = random.Random(0)
    pieces = ["ab", "c", "42", " ", "  ", "\t", "\n", "\x1c", ",", "_", "'", "x_y", "é"]
    texts = ["Hello,   world! How are you?", "a " * 300, "", "naïve café " * 80, "x\x1cy z", "don't stop " * 60]
    texts += ["".join(rng.choices(pieces, k=rng.randint(0, 40))) for _ in range(500)]  # ASCII and not
    for n in (0, 1, 3, 7, 100):
        assert truncate_column(pa.array(texts), n).to_pylist() == [truncate_tokens(t, n) for t in texts]


def test_token_counts_of_a_column_are_tokenize_counted_text_by_text():
    import pyarrow as pa

    from confab.text.tokenize import token_counts

    texts = ["I don't like r/news, ok?!", "", "  spaced\tout\x1ctext_x  ", "Ünïcode café, naïve", "tab\ttab 42_7"]
    texts = texts * 3 + ["a_b-c d.e", "über über"]
    expected = Counter(t for text in texts for t in tokenize(text))
    chunked = pa.chunked_array([pa.array(texts[:4]), pa.array(texts[4:])])
    assert token_counts(chunked) == dict(expected)
    assert token_counts(pa.chunked_array([], pa.string())) == {}


def test_dictionary_keeps_the_most_frequent_and_round_trips(tmp_path):
    counts = Counter({"the": 10, "cat": 5, "dog": 5, "tab\there": 3, "back\\slash": 3, "rare": 1})
    d = Dictionary.build(counts, max_size=6)
    assert d.tokens == ["__null__", "__unk__", "the", "cat", "dog", "back\\slash"]  # ties alphabetical
    d.save(tmp_path / "dict.tsv")
    loaded = Dictionary.load(tmp_path / "dict.tsv")
    assert loaded.tokens == d.tokens and loaded.counts == d.counts
    assert loaded.encode(["the", "zebra"]) == [2, 1]


def test_dictionary_load_names_the_bad_line(tmp_path):
    path = tmp_path / "dict.tsv"
    path.write_text("__null__\t0\n__unk__\t0\nbroken line\n")
    with pytest.raises(ValueError, match=r"dict.tsv:3"):
        Dictionary.load(path)


def test_token_counter_prunes_rare_tokens_but_keeps_frequent_ones():
    counter = TokenCounter(capacity=10)
    for i in range(100):
        counter.update(["common", "frequent", f"rare{i}"])
    assert counter.counts["common"] == 100 and counter.counts["frequent"] == 100
    assert len(counter.counts) <= 10 and counter.pruned > 0
