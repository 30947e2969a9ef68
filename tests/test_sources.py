import bz2
import gzip
import json
import lzma
import random
import shutil
from pathlib import Path

import pytest
import zstandard

from confab.data.records import Problems
from confab.data.sources import READERS, detect_format, lines
from confab.resources import resource_path


def read(fmt: str, path: Path) -> tuple[list, Problems]:
    problems = Problems()
    return list(READERS[fmt].read(path, path.name, problems)), problems


def compress(src: Path, dest: Path) -> Path:
    data = src.read_bytes()
    suffix = dest.suffix
    if suffix == ".zst":
        # pushshift writes with a long window; the reader must accept it
        params = zstandard.ZstdCompressionParameters.from_level(19, window_log=27)
        dest.write_bytes(zstandard.ZstdCompressor(compression_params=params).compress(data))
    elif suffix == ".gz":
        dest.write_bytes(gzip.compress(data))
    elif suffix == ".bz2":
        dest.write_bytes(bz2.compress(data))
    elif suffix == ".xz":
        dest.write_bytes(lzma.compress(data))
    return dest


def test_pushshift_comments_and_submissions(fixtures):
    comments, problems = read("pushshift", fixtures / "RC_2020-01_fixture.jsonl")
    assert len(comments) == 26 and problems.total() == 0
    first = comments[0]
    assert (first.id, first.parent_id, first.thread_id, first.author, first.subreddit) == (
        "t1_c1",
        "t3_a",
        "t3_a",
        "alice",
        "AskReddit",
    )
    assert first.created_utc == 1577836810 and first.kind == "comment" and first.line == 1
    subs, _ = read("pushshift", fixtures / "RS_2020-01_fixture.jsonl")
    assert [s.id for s in subs] == ["t3_a", "t3_c"]
    assert subs[1].text == "Weekend movie thread\n\nTell us what you watched and why you liked it."
    assert not subs[0].respond and subs[0].parent_id is None


@pytest.mark.parametrize("suffix", [".zst", ".gz", ".bz2", ".xz"])
def test_compressed_dumps_read_like_plain_ones(fixtures, tmp_path, suffix):
    plain, _ = read("pushshift", fixtures / "RC_2020-01_fixture.jsonl")
    packed, problems = read("pushshift", compress(fixtures / "RC_2020-01_fixture.jsonl", tmp_path / f"RC_x{suffix}"))
    assert [m.id for m in packed] == [m.id for m in plain] and problems.total() == 0


@pytest.mark.parametrize("suffix", [".zst", ".gz", ".bz2", ".xz"])
def test_truncated_archive_is_reported_and_earlier_lines_kept(fixtures, tmp_path, suffix):
    src = tmp_path / "RC_big.jsonl"
    line = (fixtures / "RC_2020-01_fixture.jsonl").read_text().splitlines()[0]
    src.write_text("\n".join(line.replace('"c1"', f'"c{i}x"') for i in range(20000)) + "\n")
    packed = compress(src, tmp_path / f"RC_big{suffix}")
    packed.write_bytes(packed.read_bytes()[: packed.stat().st_size * 2 // 3])
    messages, problems = read("pushshift", packed)
    assert problems.counts["truncated_archive"] == 1
    assert 0 < len(messages) < 20000
    sample = problems.samples[0]
    assert sample["file"].endswith(f"RC_big{suffix}") and sample["line"] == len(messages) + 1
    assert problems.total() == 1


def test_malformed_lines_are_counted_with_file_and_line(tmp_path):
    good = {"id": "x1", "author": "a", "parent_id": "t3_t", "link_id": "t3_t", "body": "hello there friend"}
    path = tmp_path / "RC_bad.jsonl"
    with open(path, "wb") as f:
        f.write(json.dumps(good).encode() + b"\n")
        f.write(b"{not json\n")
        f.write(json.dumps({"id": "x2", "body": "no parent"}).encode() + b"\n")
        f.write(b'{"id": "x3", "author": "a", "parent_id": "t3_t", "link_id": "t3_t", "body": "caf\xe9"}\n')
        f.write(b"[1, 2]\n")
        f.write(b"\n")
        f.write(json.dumps({**good, "id": "x4", "created_utc": "1136074029"}).encode() + b"\n")
    messages, problems = read("pushshift", path)
    assert [m.id for m in messages] == ["t1_x1", "t1_x4"]
    assert messages[1].created_utc == 1136074029
    assert dict(problems.counts) == {"bad_json": 1, "bad_record": 2, "bad_utf8": 1}
    assert [(s["kind"], s["line"]) for s in problems.samples] == [
        ("bad_json", 2),
        ("bad_record", 3),
        ("bad_utf8", 4),
        ("bad_record", 5),
    ]
    assert "parent_id" in problems.samples[1]["detail"]


def test_huge_line_is_skipped_without_holding_it(tmp_path, monkeypatch):
    monkeypatch.setattr(lines, "MAX_LINE_BYTES", 1000)
    monkeypatch.setattr(lines, "CHUNK", 256)
    path = tmp_path / "RC_huge.jsonl"
    ok = json.dumps({"id": "a", "author": "u", "parent_id": "t3_t", "link_id": "t3_t", "body": "fine text"})
    path.write_text(ok + "\n" + '{"body": "' + "x" * 5000 + '"}\n' + ok.replace('"a"', '"b"') + "\n")
    messages, problems = read("pushshift", path)
    assert [m.id for m in messages] == ["t1_a", "t1_b"]
    assert problems.counts["line_too_long"] == 1 and problems.samples[0]["line"] == 2


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_blocks_hold_every_line_once_with_its_number(tmp_path, monkeypatch, seed):
    """Blocks cut wherever a read ends: every line comes back once, in order, with its number; lines far over the
    limit are reported and left out, whichever reads they span; an empty line and a last line without its
    newline are lines too."""
    monkeypatch.setattr(lines, "MAX_LINE_BYTES", 300)
    monkeypatch.setattr(lines, "CHUNK", 64)
    rng = random.Random(seed)
    texts = [rng.choice(["", "x" * rng.randint(1, 40), "y" * rng.randint(1, 150), "z" * rng.randint(500, 900)])
             for _ in range(400)]  # fmt: skip
    path = tmp_path / "lines.txt"
    path.write_bytes("\n".join(texts).encode() + (b"\n" if seed % 2 else b""))
    problems = Problems()
    got = []
    for first, block in lines.iter_blocks(path, problems):
        got.extend((first + i, line) for i, line in enumerate(block.decode().split("\n")))
    expected = [(i + 1, t) for i, t in enumerate(texts) if len(t) < 300]
    if seed % 2 == 0 and texts[-1] == "":  # no newline after an empty last line: there is no last line
        expected.pop()
    assert got == expected
    assert [s["line"] for s in problems.samples] == [i + 1 for i, t in enumerate(texts) if len(t) >= 500][:100]


def test_parlai_dialogues_personas_and_candidates(fixtures):
    messages, problems = read("parlai", fixtures / "personachat_fixture.txt")
    assert problems.total() == 0
    responses = [m for m in messages if m.respond]
    assert [m.text for m in responses] == [
        "i am good , just back from skiing .",
        "every winter , my wife stays home .",
        "hello there , do you have pets ?",
        "two cats , they are lazy .",
    ]
    first = responses[0]
    assert first.persona == ["i like to ski.", "my wife does not like me anymore."]
    assert first.candidates[first.candidate_labels.index(1)] == first.text and len(first.candidates) == 3
    # the second dialogue starts with __SILENCE__: the bot speaks first, with no context turn before it
    second = [m for m in messages if m.thread_id.endswith(":1")]
    assert second[0].respond and second[0].parent_id is None and second[0].text == "hello there , do you have pets ?"
    partner = [m for m in messages if not m.respond]
    assert partner[0].persona == ["i am a vegan."] and partner[0].author.endswith(":partner")


def test_knover_tsv(fixtures):
    messages, problems = read("knover", fixtures / "knover_fixture.tsv")
    assert problems.total() == 0
    responses = [m for m in messages if m.respond]
    assert [m.text for m in responses] == ["Great, I just got back from skiing.", "The Alps, with my dog."]
    assert responses[1].persona == ["I like to ski.", "I have a dog."]
    chain = [m for m in messages if m.thread_id == responses[1].thread_id]
    assert [m.author.rsplit(":", 1)[1] for m in chain] == ["partner", "self", "partner", "self"]


def test_dailydialog_and_dailydialogpp(fixtures):
    messages, _ = read("dailydialog", fixtures / "dailydialog_fixture.txt")
    first = [m for m in messages if m.line == 1]
    assert first[0].text == "Can you manage chopsticks ?" and not first[0].respond and len(first) == 9
    pp, _ = read("dailydialogpp", fixtures / "dailydialogpp_fixture.jsonl")
    response = [m for m in pp if m.respond][0]
    assert len(response.candidates) == 15 and response.candidate_labels == [1] * 5 + [0] * 10
    assert response.text == response.candidates[0]


def test_redditpairs_rebuild_threads(fixtures):
    messages, problems = read("redditpairs", fixtures / "redditpairs_fixture.json")
    assert problems.counts["bad_record"] == 1 and "without 'aSentId'" in problems.samples[0]["detail"]
    assert problems.samples[0]["line"] == 4
    by_id = {m.id.rsplit(":", 1)[1]: m for m in messages}
    assert set(by_id) == {"10", "11", "12", "20", "21"}
    assert by_id["12"].parent_id == by_id["11"].id and by_id["11"].parent_id == by_id["10"].id
    assert by_id["10"].parent_id is None and by_id["12"].thread_id == by_id["10"].id
    assert by_id["21"].subreddit == "movies" and all(m.author is None for m in messages)


def test_redditpairs_concatenated_documents_all_read_and_the_damaged_one_reported(fixtures):
    # an array, then an object without a comma, a damaged object, then an array starting with `[,`
    messages, problems = read("redditpairs", fixtures / "redditpairs_concatenated_fixture.json")
    assert {m.id.rsplit(":", 1)[1] for m in messages} == {"30", "31", "32", "40", "41", "42"}
    assert problems.counts == {"bad_json": 1}
    assert problems.samples[0]["line"] == 1 and "skipped to the next object" in problems.samples[0]["detail"]
    by_id = {m.id.rsplit(":", 1)[1]: m for m in messages}
    assert by_id["32"].parent_id == by_id["31"].id and by_id["42"].parent_id == by_id["40"].id


def test_xpersona_dialogues_with_the_bots_persona(fixtures):
    messages, problems = read("xpersona", fixtures / "xpersona_fixture.json")
    assert problems.counts == {"bad_record": 1} and "dialogue 2: 'persona'" in problems.samples[0]["detail"]
    first = [m for m in messages if m.thread_id.endswith(":0")]
    # 8 (partner, bot) pairs, the first partner turn __SILENCE__: the bot opens, 15 turns
    assert len(first) == 15 and first[0].text.startswith("hey there !") and first[0].parent_id is None
    bot = [m for m in first if m.respond]
    assert len(bot) == 8 and all(m.persona == ["i'm a nurse.", "i am a great baker.", "i surf often.",
                                                "i was an army brat."] for m in bot)  # fmt: skip
    assert all(not m.respond and m.persona is None for m in first if m not in bot)
    assert first[1].parent_id == first[0].id and first[1].author != first[0].author


def test_synthetic_persona_chat_both_speakers_personas(fixtures):
    messages, problems = read("syntheticpersonachat", fixtures / "syntheticpersonachat_fixture.csv")
    # the short last row, and the stage directions of the third conversation, reported by file line
    assert problems.counts["bad_record"] == 1 and problems.counts["not_a_turn"] >= 1
    lines = (fixtures / "syntheticpersonachat_fixture.csv").read_text().splitlines()
    for sample in problems.samples:
        if sample["kind"] == "not_a_turn":
            assert lines[sample["line"] - 1].strip() == sample["detail"]
    first = [m for m in messages if m.thread_id.endswith(":0")]
    assert len(first) == 23 and first[0].text.startswith("Hi, I'm [User 1's name].")
    user1, user2 = first[0].persona, first[1].persona
    assert user1[0] == "I just bought a brand new house." and user2[0] == "I love to meet new people."
    assert first[2].persona == user1 and first[3].persona == user2
    # placeholders stay as context and are never a response
    assert not first[0].respond and not first[1].respond and first[2].respond
    assert not any(m.respond and "[" in m.text for m in messages)


def test_chitchat_turns_by_sender(fixtures):
    messages, problems = read("chitchat", fixtures / "chitchat_fixture.json")
    assert problems.counts == {"bad_record": 1} and "mixes 2 senders" in problems.samples[0]["detail"]
    first = [m for m in messages if "a07edb12" in m.thread_id]
    assert len(first) == 35 and first[0].text == "Hello How are you doing today?" and not first[0].respond
    assert first[1].text == "whats up MD im doing good how are you doing?" and first[1].respond
    # senders are users kept across conversations: the author is the sender, not the conversation's speaker
    assert first[0].author == "chitchat:720840be-e522-47ba-9e9f-143f66372673" == first[2].author
    assert first[0].created_utc == 1525289895 and first[0].persona is None


def test_topicalchat_bundled_sample():
    messages, problems = read("topicalchat", resource_path("samples/topical_chat_valid_freq.json.gz"))
    assert problems.total() == 0
    assert len(messages) == 11681 and len({m.thread_id for m in messages}) == 539


def test_generic_jsonl(fixtures, tmp_path):
    messages, problems = read("jsonl", fixtures / "dialogues_fixture.jsonl")
    assert problems.total() == 0
    assert [m.persona for m in messages[:2]] == [None, ["I teach math.", "I have a cat."]]
    assert messages[3].created_utc == 100 and not messages[0].respond and messages[1].respond
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"turns": []}\n{"turns": [{"speaker": "A"}]}\n')
    _, problems = read("jsonl", bad)
    assert problems.counts["bad_record"] == 2 and "turns[0]" in problems.samples[1]["detail"]


def test_format_detection(fixtures, tmp_path):
    expected = {
        "RC_2020-01_fixture.jsonl": "pushshift",
        "personachat_fixture.txt": "parlai",
        "knover_fixture.tsv": "knover",
        "dailydialog_fixture.txt": "dailydialog",
        "dailydialogpp_fixture.jsonl": "dailydialogpp",
        "dialogues_fixture.jsonl": "jsonl",
        "redditpairs_fixture.json": "redditpairs",
        "redditpairs_concatenated_fixture.json": "redditpairs",
        "xpersona_fixture.json": "xpersona",
        "syntheticpersonachat_fixture.csv": "syntheticpersonachat",
        "chitchat_fixture.json": "chitchat",
    }
    for name, fmt in expected.items():
        assert detect_format(fixtures / name) == fmt, name
    assert detect_format(resource_path("samples/topical_chat_valid_freq.json.gz")) == "topicalchat"
    renamed = shutil.copy(fixtures / "RC_2020-01_fixture.jsonl", tmp_path / "comments.jsonl")
    assert detect_format(Path(renamed)) == "pushshift"
    odd = tmp_path / "notes.txt"
    odd.write_text("just some prose\n")
    with pytest.raises(ValueError, match="notes.txt: cannot tell its format"):
        detect_format(odd)


def batches_and_messages(path: Path) -> tuple[list, list, Problems, Problems]:
    from confab.data.records import message_row

    fast_problems, slow_problems = Problems(), Problems()
    fast = [r for t in READERS["pushshift"].read_batches(path, "src", fast_problems) for r in t.to_pylist()]
    slow = [message_row(m) for m in READERS["pushshift"].read(path, "src", slow_problems)]
    return fast, slow, fast_problems, slow_problems


MIXED = [  # lines a dump may hold, each of which must come out as `parse` makes it or be reported as it reports
    '{"id": "c1", "parent_id": "t3_s", "link_id": "t3_s", "author": "ann", "body": "a fine reply", "subreddit": "x",'
    ' "created_utc": 5}',
    '{"id": "t1_c2", "parent_id": "t1_c1", "link_id": "t3_s", "author": "[deleted]", "body": "", "created_utc": null}',
    '{"id": "c3", "parent_id": "t1_c1", "link_id": "t3_s", "author": "", "body": "tab\\there", "extra": {"id": 1}}',
    '{"id": "s", "title": "A title", "selftext": " \\u2003 ", "author": "bo"}',
    '{"id": "t3_u", "title": "Another", "selftext": "[removed]"}',
    '{"id": "v", "title": "Third", "selftext": "Body text.\\u0085", "subreddit": null}',
    '{"id": 7, "parent_id": "t3_s", "link_id": "t3_s", "body": "an id that is a number"}',
    '{"id": "c4", "parent_id": "t3_s", "link_id": "t3_s", "body": "time as text", "created_utc": "1577836800"}',
    '{"id": "c5", "parent_id": "t3_s", "link_id": "t3_s", "body": "time as float", "created_utc": 1577836800.0}',
    '{"id": "c6", "parent_id": "t3_s", "link_id": "t3_s", "author": {"name": "x"}, "body": "an object author"}',
    '{"id": "c7", "parent_id": "t3_s", "body": "no thread"}',
    '{"id": "c8", "parent_id": "t3_s", "link_id": "t3_s", "body": null}',
    '{"kind": "neither"}',
    "[1, 2]",
    "{not json",
    "",
    '{"id": "c9", "parent_id": "t3_s", "link_id": "", "body": "an empty thread"}',
    '{"id": "c10", "parent_id": "t3_s", "link_id": "t3_s", "body": "said once", "body": "said twice"}',
    '{"id": "c11", "parent_id": "t3_s", "link_id": "t3_s", "body": true}',
    '{"id": "c12", "parent_id": "t3_s", "link_id": "t3_s", "body": "\\u00e9t\\u00e9 \\ud83d\\ude00"}',
    '{"id": "c13", "parent_id": "t3_s", "link_id": "t3_s", "body": "a number for a subreddit", "subreddit": 3}',
]


@pytest.mark.parametrize("chunk", [64, 1 << 20])
def test_pushshift_blocks_read_as_parse_reads_each_line(tmp_path, monkeypatch, chunk):
    """Every kind of line, each alone in a block of clean lines (the columnar path) and all in one block: the rows
    and the problems (kind, file, line) equal the line-by-line reader's."""
    monkeypatch.setattr(lines, "CHUNK", chunk)
    clean = [json.loads(MIXED[0]) | {"id": f"k{i}", "body": f"clean line {i}"} for i in range(6)]
    body = []
    for line in MIXED:
        body += [json.dumps(c) for c in clean] + [line]
    raw = ("\n".join(body) + "\n").encode()
    raw = raw.replace(b"clean line 3", b"clean \xff line")  # bad UTF-8 in one line
    path = tmp_path / "RC_mixed.jsonl"
    path.write_bytes(raw)
    taken = []
    columnar = READERS["pushshift"]._columnar
    monkeypatch.setattr(READERS["pushshift"], "_columnar", lambda *a: taken.append(t := columnar(*a)) or t)
    fast, slow, fast_problems, slow_problems = batches_and_messages(path)
    assert fast == slow and len(slow) > 50
    assert fast_problems.to_dict() == slow_problems.to_dict() and slow_problems.total() >= 10
    if chunk == 64:  # small blocks: the clean ones are read by Arrow's reader
        assert sum(t is not None for t in taken) > 10


def test_pushshift_blocks_of_the_fixtures_and_a_real_month(fixtures):
    from .conftest import shared_file

    for path in (fixtures / "RC_2020-01_fixture.jsonl", fixtures / "RS_2020-01_fixture.jsonl"):
        fast, slow, fast_problems, slow_problems = batches_and_messages(path)
        assert fast == slow and fast and fast_problems.to_dict() == slow_problems.to_dict()
    fast, slow, _, _ = batches_and_messages(shared_file("reddit/RC_2006-01.zst"))
    assert fast == slow and len(slow) == 3666
