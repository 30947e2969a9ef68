"""A candidate index: responses encoded once, searched by inner product with FAISS.

Encoding runs in chunks, each saved under its own name when complete, so a build over millions of responses
that is interrupted resumes at the first missing chunk. Pools up to `exact_max` vectors get an exact index;
larger pools of unit vectors (cosine models) an HNSW graph (approximate, a few ms a query). Dot-product models keep
exact search at any size: their vectors' norms vary, and on 1M real encodings of one HNSW found the exact best
candidate for only 18% of queries (benchmarks/README.md); exact search there costs ~20-60 ms a query.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path

import faiss
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from confab.errors import MissingInput, OutputExists
from confab.io import atomic_path, atomic_write_json
from confab.text import tokenize

EXACT_MAX = 200_000
CHUNK = 16_384
# faiss switches exact search to BLAS from `distance_compute_blas_threshold` queries on (default 20). On this
# project's machines its BLAS path measured faster for large batches, not slower, so the default is kept;
# benchmarks/index_speed.py measures both in one run.


def collect_responses(texts: Iterable[str], max_tokens: int | None = None) -> list[str]:
    """Distinct responses in first-seen order, optionally only those of at most `max_tokens` tokens (the
    paper's Table 2 uses 10)."""
    seen: dict[str, None] = {}
    for text in texts:
        text = text.strip()
        if text and (max_tokens is None or len(tokenize(text)) <= max_tokens):
            seen.setdefault(text, None)
    return list(seen)


def build_index(
    responses: list[str],
    encode: Callable[[list[str]], np.ndarray],
    out: Path,
    exact_max: int = EXACT_MAX,
    progress: Callable | None = None,
    meta: dict | None = None,
    unit_vectors: bool = False,
) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    texts_path = out / "responses.parquet"
    if texts_path.exists():
        if pq.read_metadata(texts_path).num_rows != len(responses):
            raise OutputExists(f"{out} holds an index of other responses; remove it or choose another --out")
    else:
        with atomic_path(texts_path) as tmp:
            pq.write_table(pa.table({"text": responses}), tmp)
    chunks = out / "chunks"
    chunks.mkdir(exist_ok=True)
    task = progress("encode responses", len(responses)) if progress else None
    for start in range(0, len(responses), CHUNK):
        path = chunks / f"{start // CHUNK:06d}.npy"
        if not path.exists():
            vectors = np.ascontiguousarray(encode(responses[start : start + CHUNK]), dtype=np.float32)
            with atomic_path(path) as tmp, open(tmp, "wb") as f:
                np.save(f, vectors)
        if task:
            task(min(start + CHUNK, len(responses)))
    vectors = np.concatenate([np.load(p) for p in sorted(chunks.glob("*.npy"))])
    index = make_index(vectors, exact_max, unit_vectors)
    with atomic_path(out / "index.faiss") as tmp:
        faiss.write_index(index, str(tmp))
    atomic_write_json(out / "index.json", {"size": len(responses), "dim": int(vectors.shape[1]),
                                           "kind": "hnsw" if hasattr(index, "hnsw") else "exact",
                                           **(meta or {})})  # fmt: skip
    return out


def make_index(
    vectors: np.ndarray, exact_max: int = EXACT_MAX, unit_vectors: bool = True, ef_construction: int = 200
) -> faiss.Index:
    d = vectors.shape[1]
    if len(vectors) <= exact_max or not unit_vectors:
        index = faiss.IndexFlatIP(d)
    else:
        index = faiss.IndexHNSWFlat(d, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = ef_construction
    index.add(vectors)
    return index


class CandidateIndex:
    # efSearch 2048 over 1M cosine vectors: recall@1 0.985 by id, 0.991 by score, p50 8.4 ms (benchmarks/README.md)
    def __init__(self, folder: str | Path, ef_search: int = 2048):
        folder = Path(folder)
        if not (folder / "index.faiss").exists():
            raise MissingInput(f"{folder}: no index.faiss; build one with `confab index build`")
        self.meta = json.loads((folder / "index.json").read_text())
        self.index = faiss.read_index(str(folder / "index.faiss"))
        if hasattr(self.index, "hnsw"):
            self.index.hnsw.efSearch = ef_search
        self.texts = pq.read_table(folder / "responses.parquet")["text"].to_pylist()

    def __len__(self) -> int:
        return len(self.texts)

    def search(self, queries: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
        scores, ids = self.search_ids(queries, k)
        return [
            [(self.texts[i], float(s)) for i, s in zip(row_ids, row_scores, strict=True) if i >= 0]
            for row_ids, row_scores in zip(ids, scores, strict=True)
        ]

    def search_ids(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Inner products and ids [Q, k] of the best k responses of each query (id -1: fewer than k)."""
        return self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of these response ids [n, d]."""
        return self.index.reconstruct_batch(np.asarray(ids, dtype=np.int64))
