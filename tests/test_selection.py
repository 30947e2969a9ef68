import json
from pathlib import Path

import numpy as np
import pytest

from confab.eval.selection import average_precision, evaluate_selection, read_selection, selection_metrics
from confab.retrieval.score import TfidfScorer

FIXTURE = Path(__file__).parent / "fixtures" / "dailydialogpp_fixture.jsonl"
SHARED = Path(__file__).parents[1].parent / "shared" / "data" / "dailydialog" / "dailydialog_plusplus_dev.json"


def test_average_precision_mrr_and_p1_by_hand():
    # ranked: pos, neg, pos, neg -> AP = (1/1 + 2/3) / 2, first positive at 1, top is positive
    ap, rr, p1 = average_precision(np.array([0.9, 0.8, 0.7, 0.1]), np.array([1, 0, 1, 0]))
    assert (ap, rr, p1) == pytest.approx(((1 + 2 / 3) / 2, 1.0, 1.0))
    ap, rr, p1 = average_precision(np.array([0.2, 0.9, 0.5]), np.array([1, 0, 0]))  # the positive ranks third
    assert (ap, rr, p1) == pytest.approx((1 / 3, 1 / 3, 0.0))
    ap, rr, p1 = average_precision(np.array([0.5, 0.5, 0.5]), np.array([1, 0, 0]))  # ties go against the model
    assert (ap, rr, p1) == pytest.approx((1 / 3, 1 / 3, 0.0))
    with pytest.raises(ValueError, match="without positive"):
        average_precision(np.array([0.1]), np.array([0]))


def test_accuracy_counts_both_sides_of_one_half():
    m = selection_metrics([np.array([0.9, 0.4, 0.6, 0.1])], [np.array([1, 1, 0, 0])], probabilities=True)
    assert m["accuracy"] == pytest.approx(0.5) and m["contexts"] == 1
    assert "accuracy" not in selection_metrics([np.array([3.0, 1.0])], [np.array([1, 0])], probabilities=False)


def test_negative_kinds_are_ranked_separately_on_the_fixture():
    items = read_selection(FIXTURE)
    assert len(items) == 3 and all(len(it["positive"]) == 5 for it in items)

    def oracle(examples, candidates):  # knows the positives: perfect on every kind
        return [
            np.array([1.0 if c in it["positive"] else 0.0 for c in cands])
            for it, cands in zip(items, candidates, strict=True)
        ]

    perfect = evaluate_selection(oracle, items, ["random", "adversarial", "both"], probabilities=True)
    assert all(m["map"] == m["mrr"] == m["p@1"] == m["accuracy"] == 1.0 for m in perfect.values())

    def prefers_random(examples, candidates):  # random negatives first, then positives, then adversarial
        return [np.array([2.0 if c in it["random"] else 1.0 if c in it["positive"] else 0.0 for c in cands])
                for it, cands in zip(items, candidates, strict=True)]  # fmt: skip

    m = evaluate_selection(prefers_random, items, ["random", "adversarial"], probabilities=False)
    assert m["adversarial"]["p@1"] == 1.0 and m["random"]["p@1"] == 0.0
    assert m["random"]["mrr"] == pytest.approx(1 / 6)  # five random negatives above every positive


def test_malformed_records_name_the_line(tmp_path):
    bad = tmp_path / "dd.jsonl"
    good = FIXTURE.read_text().splitlines()[0]
    bad.write_text(good + "\n" + json.dumps({"context": ["hi"]}) + "\n")
    with pytest.raises(ValueError, match=r"dd.jsonl:2: needs 'context' and 'positive_responses'"):
        read_selection(bad)
    bad.write_text(good + "\n{not json\n")
    with pytest.raises(ValueError, match=r"dd.jsonl:2"):
        read_selection(bad)


@pytest.mark.skipif(not SHARED.exists(), reason="../shared/data (DailyDialog++ dev) is not beside the checkout")
def test_tfidf_on_dailydialogpp_dev_prefers_overlap():
    items = read_selection(SHARED, limit=200)
    corpus = [t for it in items for t in [*it["context"], *it["positive"], *it["adversarial"], *it["random"]]]
    m = evaluate_selection(TfidfScorer(corpus), items, ["random", "adversarial"], probabilities=False)
    # word overlap separates random negatives; adversarial ones are written to overlap with the context
    assert m["random"]["p@1"] > 0.7 and m["adversarial"]["p@1"] < m["random"]["p@1"] - 0.2
