import pytest

from confab.ranking import rank_of, ranking_metrics


def test_rank_breaks_ties_against_the_model():
    assert rank_of([0.9, 0.1, 0.5], 0) == 1
    assert rank_of([0.5, 0.9, 0.5], 0) == 3  # the tie with candidate 2 counts against it
    assert rank_of([1.0, 1.0, 1.0, 1.0], 2) == 4  # constant scores rank the correct candidate last
    with pytest.raises(IndexError):
        rank_of([1.0], 3)
    with pytest.raises(ValueError, match="NaN"):
        rank_of([float("nan"), 1.0], 1)


def test_hits_and_mrr_by_hand():
    ranks = [1, 2, 3, 10, 20]
    m = ranking_metrics(ranks, ks=(1, 3, 10))
    assert m["hits@1"] == pytest.approx(1 / 5)
    assert m["hits@3"] == pytest.approx(3 / 5)
    assert m["hits@10"] == pytest.approx(4 / 5)
    assert m["mrr"] == pytest.approx((1 + 1 / 2 + 1 / 3 + 1 / 10 + 1 / 20) / 5)
    assert m["n"] == 5
    assert set(ranking_metrics([1], ks=(5, 50))) == {"hits@5", "hits@50", "mrr", "n"}
