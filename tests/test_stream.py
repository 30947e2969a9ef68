import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from confab.data.stream import pieces, plan, share, stream

from .conftest import shared_file


def dataset(tmp_path, sizes=(23, 0, 41, 9), group=7):
    """A split of several files, each cut into row groups of `group` rows."""
    n = 0
    for f, size in enumerate(sizes):
        ids = [f"e{n + i}" for i in range(size)]
        n += size
        table = pa.table({"id": ids, "response": [f"text of {i}" for i in ids]})
        (tmp_path / "train").mkdir(exist_ok=True)
        pq.write_table(table, tmp_path / "train" / f"part-{f:05d}.parquet", row_group_size=group)
    return tmp_path, n


@pytest.mark.parametrize("world", [1, 2, 3, 8])
def test_every_example_goes_to_exactly_one_rank_each_epoch(tmp_path, world):
    root, n = dataset(tmp_path)
    assert sum(p.rows for p in pieces(root, "train")) == n and len(pieces(root, "train")) == 4 + 6 + 2
    for epoch in range(3):
        shares = [[r["id"] for r in stream(root, "train", rank, world, epoch, seed=5, buffer=4)] for rank in
                  range(world)]  # fmt: skip
        seen = [i for s in shares for i in s]
        assert sorted(seen) == sorted(f"e{i}" for i in range(n)) and len(set(seen)) == n  # none lost, none twice
        assert max(map(len, shares)) - min(map(len, shares)) <= 1


def test_the_order_is_reproducible_and_changes_with_the_epoch(tmp_path):
    root, _ = dataset(tmp_path)
    first = [r["id"] for r in stream(root, "train", 1, 2, epoch=0, seed=1, buffer=5)]
    assert first == [r["id"] for r in stream(root, "train", 1, 2, epoch=0, seed=1, buffer=5)]
    assert first != [r["id"] for r in stream(root, "train", 1, 2, epoch=1, seed=1, buffer=5)]
    assert [r.keys() for r in stream(root, "train", columns=["id"])][0] == {"id"}


def test_a_rank_reads_only_its_row_groups():
    parts = pieces_of([10, 10, 10, 10])
    slices = plan(parts, epoch=0, seed=0, rank=0, world=4)
    assert sum(hi - lo for _, lo, hi in slices) == 10 and len(slices) <= 2
    assert share(10, 0, 3) == (0, 3) and share(10, 2, 3) == (6, 10)
    with pytest.raises(ValueError, match="rank 4 is not in a world of 4"):
        plan(parts, 0, 0, 4, 4)


def pieces_of(sizes):
    from pathlib import Path

    from confab.data.stream import Piece

    return [Piece(Path(f"f{i}"), 0, n) for i, n in enumerate(sizes)]


def test_a_real_built_split_streams_whole(tmp_path):
    from confab.data.build import Build, BuildConfig
    from confab.data.schema import read_split

    month = shared_file("reddit/RC_2006-01.zst")
    Build(BuildConfig(inputs=[str(month)], persona="none", partition_mb=0.5), tmp_path / "ds").run()
    ids = sorted(read_split(tmp_path / "ds", "train")["id"].to_pylist())
    shares = [[r["id"] for r in stream(tmp_path / "ds", "train", rank, 2, 0, buffer=64)] for rank in (0, 1)]
    assert sorted(shares[0] + shares[1]) == ids and len(pieces(tmp_path / "ds", "train")) > 1
