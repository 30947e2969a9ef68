"""Integration tests over the real public data in ../shared/data (skipped with a reason when it is absent)."""

from confab.data.build import Build, BuildConfig
from confab.data.records import Problems
from confab.data.schema import SPLITS, read_split
from confab.data.sources import READERS, detect_format

from .conftest import shared_file


def test_reddit_month_builds_with_real_counts(tmp_path):
    path = shared_file("reddit/RC_2006-01.zst")
    assert detect_format(path) == "pushshift"
    report = Build(BuildConfig(inputs=[str(path)]), tmp_path / "ds").run()
    # 3,666 comments in the month; one has an empty body, which the token-count rule drops
    assert report["read"]["records"] == {"comment": 3666} and report["read"]["malformed"]["total"] == 0
    assert report["threads"]["threads"] == 1173 and report["threads"]["messages"] == 3666
    dropped = report["cleaning"]["dropped"]
    assert dropped["deleted"] > 300 and dropped["descendant_of_removed"] > 0
    assert report["threads"]["kept_messages"] + report["cleaning"]["dropped_total"] == 3666
    n = report["examples"]["total"]
    assert n > 300 and sum(report["examples"][s] for s in SPLITS) == n
    rows = {s: read_split(tmp_path / "ds", s).to_pylist() for s in SPLITS}
    assert all(r["subreddit"] in ("reddit.com", "nsfw") and r["created_utc"] > 1136000000 for r in rows["train"])
    assert report["persona"]["users_with_persona"] > 100
    assert 0.3 < report["persona"]["train_share_with_persona"] <= 1.0
    held = [r["response"] for s in ("valid", "test") for r in rows[s]]
    for r in rows["train"]:
        assert not any(p in h for p in r["persona"] for h in held)


def test_reddit_paths_and_submissions_dump(tmp_path):
    path = shared_file("reddit/RS_2019-10_sample.zst")
    problems = Problems()
    subs = list(READERS["pushshift"].read(path, path.name, problems))
    assert len(subs) == 8271 and problems.total() == 0 and all(s.kind == "submission" for s in subs)
    month = shared_file("reddit/RC_2006-01.zst")
    report = Build(BuildConfig(inputs=[str(month)], examples="paths", persona="none"), tmp_path / "ds").run()
    rows = read_split(tmp_path / "ds", "train").to_pylist()
    assert max(len(r["context"]) for r in rows) > 3
    assert report["persona"]["train_examples_with_persona"] == 0


def test_personachat_file_keeps_its_3907_examples_and_20_candidates(tmp_path):
    path = shared_file("personachat/convai2_valid_self_original_part1.txt")
    report = Build(BuildConfig(inputs=[str(path)], examples="paths", valid_size=0, test_size=0), tmp_path / "ds").run()
    assert report["examples"]["total"] == report["examples"]["train"] == 3907
    rows = read_split(tmp_path / "ds", "train").to_pylist()
    assert all(len(r["candidates"]) == 20 and sum(r["candidate_labels"]) >= 1 for r in rows)
    assert all(r["candidates"][r["candidate_labels"].index(1)] == r["response"] for r in rows)
    assert report["persona"]["train_share_with_persona"] == 1.0
    first = min(rows, key=lambda r: (int(r["thread_id"].rsplit(":", 1)[1]), len(r["context"])))
    assert first["persona"][0] == "i read twenty books a year."
    assert first["context"] == ["hello what are doing today ?"]
    assert first["response"] == "i am good , i just got off work and tired , i have two jobs ."


def test_dailydialog_and_topicalchat_counts(tmp_path):
    dd = shared_file("dailydialog/xdailydialog_en_dev_human.txt")
    report = Build(BuildConfig(inputs=[str(dd)], persona="none", valid_size=0, test_size=0), tmp_path / "dd").run()
    assert report["threads"]["threads"] == 995
    assert report["examples"]["total"] == report["threads"]["messages"] - 995  # every turn but the first
    tc = shared_file("topical_chat/valid_freq.json")
    report = Build(BuildConfig(inputs=[str(tc)], persona="random-from-user"), tmp_path / "tc").run()
    assert report["threads"]["threads"] == 539 and report["threads"]["messages"] == 11681
    assert report["examples"]["total"] == 11681 - 539


def test_dailydialogpp_and_knover(tmp_path):
    pp = shared_file("dailydialog/dailydialog_plusplus_dev.json")
    report = Build(BuildConfig(inputs=[str(pp)], persona="none", valid_size=0, test_size=0), tmp_path / "pp").run()
    assert report["examples"]["total"] == 1028
    rows = read_split(tmp_path / "pp", "train").to_pylist()
    assert all(len(r["candidates"]) == 15 and sum(r["candidate_labels"]) == 5 for r in rows)
    kn = shared_file("knover_plato2/example_train.tsv")
    report = Build(BuildConfig(inputs=[str(kn)], valid_size=0, test_size=0), tmp_path / "kn").run()
    assert report["examples"]["total"] == 1000 and report["persona"]["train_share_with_persona"] == 1.0


def test_reddit_pair_files_rebuild_threads(tmp_path):
    paths = [shared_file(f"reddit/pairs_2015-02-02/{n}_2015-02-02.json") for n in ("News", "gaming", "movies")]
    assert {detect_format(p) for p in paths} == {"redditpairs"}
    report = Build(BuildConfig(inputs=[str(p) for p in paths], examples="paths", persona="none"), tmp_path / "ds").run()
    assert report["read"]["malformed"]["total"] == 0
    # 13,471 pairs; chains of pairs share comments, so there are fewer threads than pairs
    assert report["threads"]["messages"] > 13471 > report["threads"]["threads"]
    assert report["cleaning"]["dropped"]["offensive"] > 0 and report["examples"]["total"] > 5000


def test_the_shipped_selfchat_starts_are_the_200_vinyals_le_questions():
    from confab.eval.selfchat import read_starts, vinyals_le_questions

    shared = read_starts(shared_file("selfchat/vinyals_le_200_questions.txt"))
    assert vinyals_le_questions() == shared and len(shared) == 200


def test_static_evaluation_of_real_knover_contexts_exports_a_form_of_50(tmp_path):
    import json

    from confab.eval.human import export_form
    from confab.eval.static import read_contexts, write_static
    from tests.scripted import Scripted

    contexts = read_contexts(shared_file("knover_plato2/example_valid.tsv"))
    assert len(contexts) == 100 and all(c["persona"] and c["context"] and c["reference"] for c in contexts)
    log = write_static({"a": Scripted("a"), "b": Scripted("b")}, contexts, tmp_path / "static.jsonl")
    form, key = export_form([log], tmp_path / "form.html", pairwise=True)
    items = json.loads(key.read_text())["items"]
    assert len(items) == 50 and len({it["prompt"] for it in items}) > 40  # 50 drawn at random, as in the paper
    assert contexts[0]["persona"][0] in form.read_text()  # the persona is shown to the annotators


def test_every_reddit_pair_of_2015_is_read_from_the_concatenated_files():
    from confab.data.sources.lines import iter_json_documents

    files = sorted(shared_file("reddit/pairs_2015").glob("*.json.zst"))
    assert len(files) == 260
    problems = Problems()
    # 393,449 pairs, about 25 files being several arrays and objects written one after another
    assert sum(1 for f in files for _ in iter_json_documents(f, problems)) == 393449 and problems.total() == 0
    messages = list(READERS["redditpairs"].read(files[0], files[0].name, problems))
    assert problems.total() == 0 and sum(m.parent_id is not None for m in messages) > 1000


def test_the_new_persona_and_chat_corpora_read_whole():
    from confab.data.sources.chitchat import installed

    expected = {  # file, format: responses with a context (the README's counts, less openings and placeholders)
        "personachat/xpersona_en_persona_valid.json": ("xpersona", 6316),
        "synthetic_persona_chat/Synthetic-Persona-Chat_valid.csv": ("syntheticpersonachat", 25000),
        "synthetic_persona_chat/Synthetic-Persona-Chat_test.csv": ("syntheticpersonachat", 24000),
    }
    paths = {shared_file(name): fmt_count for name, fmt_count in expected.items()}
    paths[installed()] = ("chitchat", 130000)
    for path, (fmt, responses) in paths.items():
        assert detect_format(path) == fmt, path
        problems = Problems()
        messages = list(READERS[fmt].read(path, path.name, problems))
        answered = sum(m.respond and m.parent_id is not None for m in messages)
        assert answered >= responses, (path, answered)
        # Synthetic-Persona-Chat has stage directions and two one-turn rows, reported by line; the others nothing
        assert problems.total() < 200 and set(problems.counts) <= {"not_a_turn", "bad_record"}, problems.to_dict()
        if fmt != "chitchat":
            assert all(m.persona for m in messages if m.respond)
