"""VectorIndex behaviour shared by every index type: add, search, remove, upsert, filters."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from encoders.errors import ConfigError, IndexError_, ShelfwiseError
from index import ItemMeta, SearchFilter, VectorIndex

from .conftest import CATEGORIES, brute_force

SPECS = ["auto", "Flat", "HNSW16", "IVF16,Flat"]


@pytest.fixture(params=SPECS)
def built(request, small_data):
    ids, x, metas, _ = small_data
    index = VectorIndex(32, request.param, exact_threshold=64)
    index.add(ids, x, metas)
    return index


def _allowed(metas, f: SearchFilter, ids, removed=()) -> np.ndarray:
    return np.array(
        [
            (f.categories is None or m.category in f.categories)
            and (f.min_price is None or m.price >= f.min_price)
            and (f.max_price is None or m.price <= f.max_price)
            and (not f.in_stock_only or m.in_stock)
            and pid not in f.exclude_ids
            and pid not in removed
            for pid, m in zip(ids, metas, strict=True)
        ]
    )


def test_unfiltered_search_shapes_and_self_match(built, small_data):
    ids, x, _, _ = small_data
    got_ids, scores = built.search(x[:5], k=7)
    assert got_ids.shape == (5, 7) and got_ids.dtype == object
    assert scores.shape == (5, 7) and scores.dtype == np.float32
    assert list(got_ids[:, 0]) == ids[:5]  # each item is its own nearest neighbour
    assert np.all(np.diff(scores, axis=1) <= 1e-6)  # sorted by descending score
    one_ids, one_scores = built.search(x[0], k=3)  # a single (d,) query answers as q=1
    assert one_ids.shape == (1, 3) and one_ids[0, 0] == ids[0]
    assert len(built) == 3000 and ids[10] in built and "nope" not in built
    assert built.ids == ids


FILTER_CASES = pytest.mark.parametrize(
    "flt",
    [
        SearchFilter(categories=frozenset({"cat3"})),
        SearchFilter(min_price=20, max_price=60, in_stock_only=True),
        SearchFilter(categories=frozenset({"cat1", "cat7"}), max_price=100),
        SearchFilter(categories=frozenset({"cat2"}), min_price=150, in_stock_only=True),
    ],
    ids=["category", "price-stock", "two-cats-price", "selective"],
)


@FILTER_CASES
def test_filtered_ids_are_exactly_the_allowed_items(built, small_data, flt):
    ids, _, metas, _ = small_data
    excluding = dataclasses.replace(flt, exclude_ids=frozenset(ids[:50]))
    for f in (flt, excluding):
        allowed = _allowed(metas, f, ids)
        assert built.filtered_ids(f) == [p for p, ok in zip(ids, allowed, strict=True) if ok]
    assert built.filtered_ids() == ids


@FILTER_CASES
def test_filtered_search_returns_k_valid_results(built, small_data, flt):
    ids, x, metas, q = small_data
    allowed = _allowed(metas, flt, ids)
    assert allowed.sum() >= 10
    got, scores = built.search(q, k=10, filters=flt)
    assert got.shape == (20, 10) and None not in got
    pos = {p: i for i, p in enumerate(ids)}
    for row in got:
        assert len(set(row)) == 10
        assert all(allowed[pos[p]] for p in row)
    if built.resolved_spec == "Flat":  # exact: must equal the brute-force filtered answer
        top, top_s = brute_force(x, q, 10, allowed)
        np.testing.assert_allclose(scores, top_s, rtol=0, atol=1e-5)
        assert (got == np.array(ids, dtype=object)[top]).mean() > 0.99  # ties may swap


def test_very_selective_filter_still_returns_k(small_data):
    """About 1% of 3,000 items pass; every index type must still fill k=10."""
    ids, x, metas, q = small_data
    flt = SearchFilter(categories=frozenset({"cat4"}), max_price=20.0, in_stock_only=True)
    allowed = _allowed(metas, flt, ids)
    assert 10 <= allowed.sum() <= 60
    top, top_s = brute_force(x, q, 10, allowed)
    for spec in SPECS:
        for threshold in (0, 2048):  # the selector path and the exact-subset path
            index = VectorIndex(32, spec, exact_threshold=threshold)
            index.add(ids, x, metas)
            got, scores = index.search(q, k=10, filters=flt)
            assert None not in got, (spec, threshold)
            assert np.all(np.isfinite(scores))
            if spec in ("Flat", "auto") or threshold:
                np.testing.assert_allclose(scores, top_s, atol=1e-5)


def test_padding_when_fewer_than_k_pass(built, small_data):
    ids, x, _, q = small_data
    flt = SearchFilter(exclude_ids=frozenset(ids[3:]))  # only 3 items may be returned
    got, scores = built.search(q[:2], k=5, filters=flt)
    assert set(got[0, :3]) == set(ids[:3])
    assert list(got[0, 3:]) == [None, None] and np.all(scores[:, 3:] == -np.inf)
    nothing, s = built.search(q[:2], k=4, filters=SearchFilter(categories=frozenset()))
    assert (nothing == None).all() and np.all(s == -np.inf)  # noqa: E711
    empty = VectorIndex(32)
    got, scores = empty.search(q[0], k=2)
    assert list(got[0]) == [None, None] and np.all(scores == -np.inf)


def test_remove_and_upsert(built, small_data):
    ids, x, metas, q = small_data
    gone = ids[::2]  # half: makes HNSW tombstones cross the rebuild fraction
    built.remove(gone[:100])
    built.remove(gone[100:])
    assert len(built) == 1500 and ids[0] not in built and ids[1] in built
    got, _ = built.search(q, k=10)
    assert not set(got.ravel()) & set(gone)
    got, _ = built.search(x[0], k=1)
    assert got[0, 0] != ids[0]
    # the live part still answers its own queries
    assert list(built.search(x[1:8:2], k=1)[0][:, 0]) == ids[1:8:2]

    # upsert: move ids[1] onto ids[3]'s vector and into a new category; add a brand-new id
    built.upsert(
        [ids[1], "new"],
        np.stack([x[3], x[5]]),
        [ItemMeta("fresh", 1.0), ItemMeta("fresh", 2.0, False)],
    )
    assert len(built) == 1501 and built.meta(ids[1]) == ItemMeta("fresh", 1.0, True)
    np.testing.assert_allclose(built.vector(ids[1]), x[3], atol=1e-6)
    got, _ = built.search(x[5], k=5, filters=SearchFilter(categories=frozenset({"fresh"})))
    assert list(got[0]) == ["new", ids[1], None, None, None]
    got, _ = built.search(
        x[5], k=5, filters=SearchFilter(categories=frozenset({"fresh"}), in_stock_only=True)
    )
    assert list(got[0][:2]) == [ids[1], None]
    np.testing.assert_allclose(built.vectors([ids[3], ids[1]]), x[[3, 3]], atol=1e-6)


def test_hnsw_tombstones_are_filtered_then_compacted(small_data):
    ids, x, metas, _ = small_data
    index = VectorIndex(32, "HNSW16", tombstone_fraction=0.25)
    index.add(ids, x, metas)
    index.remove(ids[:300])  # 10%: tombstones stay in the graph
    assert index.faiss_index.ntotal == 3000
    got, _ = index.search(x[:300], k=3)
    assert not set(got.ravel()) & set(ids[:300])
    index.remove(ids[300:900])  # 30% > 25%: rebuilt from the live vectors
    assert index.faiss_index.ntotal == 2100 == len(index)
    assert list(index.search(x[900:905], k=1)[0][:, 0]) == ids[900:905]


@pytest.mark.parametrize("spec", ["Flat", "HNSW16", "IVF16,Flat", "IVF16,PQ16", "PCA32,Flat"])
def test_factory_strings_pass_through(spec, small_data):
    ids, x, metas, _ = small_data
    index = VectorIndex(32, spec)
    assert index.spec == spec == index.resolved_spec
    index.add(ids, x, metas)  # IVF / PQ / PCA are trained on this first batch
    assert index.faiss_index.is_trained and len(index) == 3000
    got, _ = index.search(x[:20], k=5)
    # PQ is lossy: ask only that each item comes back among its own top 5
    assert np.mean([ids[i] in got[i] for i in range(20)]) >= 0.8
    index.remove(ids[:10])
    assert ids[0] not in index and len(index) == 2990


def test_auto_switches_to_hnsw_at_threshold(small_data):
    ids, x, metas, _ = small_data
    index = VectorIndex(32, "auto", auto_threshold=2000)
    index.add(ids[:1500], x[:1500], metas[:1500])
    assert index.resolved_spec == "Flat"
    index.add(ids[1500:], x[1500:], metas[1500:])
    assert index.resolved_spec == "HNSW32" and len(index) == 3000
    assert index.meta(ids[5]) == metas[5]
    assert list(index.search(x[:5], k=1)[0][:, 0]) == ids[:5]


def _add(index, **kw):
    args = {"ids": ["a", "b"], "vectors": np.eye(2, 4, dtype=np.float32), "metas": None}
    args.update(kw)
    index.add(**args)


BAD_INPUTS = [
    (lambda i: _add(i, vectors=np.ones((2, 5))), ConfigError, r"vectors must have shape \(n, 4\)"),
    (lambda i: _add(i, ids=["a", "a"]), ConfigError, "ids holds duplicate product ids: 'a'"),
    (lambda i: _add(i, ids="ab"), ConfigError, "ids must be a list of product ids"),
    (lambda i: _add(i, ids=["a", 3]), ConfigError, "ids must hold non-empty strings"),
    (lambda i: _add(i, vectors=np.full((2, 4), np.nan)), ConfigError, "vectors row 0 holds NaN"),
    (lambda i: _add(i, vectors=np.zeros((2, 4))), ConfigError, "vectors row 0 is all zeros"),
    (lambda i: _add(i, vectors=np.ones((3, 4))), ConfigError, "vectors has 3 rows but 2 ids"),
    (lambda i: _add(i, metas=[ItemMeta("x", 1.0)]), ConfigError, "metas has 1 entries"),
    (lambda i: _add(i, metas=[{"category": "x"}] * 2), ConfigError, r"metas\[0\] must be"),
    (
        lambda i: _add(i, ids=["seed"], vectors=np.eye(1, 4)),
        IndexError_,
        "already in the index.*upsert",
    ),
    (lambda i: i.remove(["zzz"]), IndexError_, "ids: 1 unknown product id.*'zzz'"),
    (lambda i: i.vector("zzz"), IndexError_, "product_id: unknown product id 'zzz'"),
    (lambda i: i.meta("zzz"), IndexError_, "unknown product id 'zzz'"),
    (lambda i: i.search(np.ones(4), k=0), ConfigError, "k must be an integer >= 1"),
    (lambda i: i.search(np.ones(4), k=2.5), ConfigError, "k must be an integer >= 1"),
    (lambda i: i.search(np.ones(3), k=1), ConfigError, r"queries must have shape"),
    (lambda i: i.search([np.nan] * 4, k=1), ConfigError, "queries row 0 holds NaN"),
    (lambda i: i.search(np.ones(4), k=1, filters={"max_price": 3}), ConfigError, "filters must"),
    (lambda i: SearchFilter(categories="shoes"), ConfigError, "categories must be a set"),
    (lambda i: SearchFilter(min_price=5, max_price=1), ConfigError, "min_price .* is above"),
    (lambda i: ItemMeta("x", -1.0), ConfigError, "price must be finite and >= 0"),
    (lambda i: ItemMeta("x", float("nan")), ConfigError, "price must be finite"),
    (lambda i: VectorIndex(0), ConfigError, "dim must be a positive integer"),
    (lambda i: VectorIndex(4, "NotAnIndex42"), ConfigError, "spec 'NotAnIndex42' is not a FAISS"),
    (lambda i: VectorIndex(4, model_names={"text": 1}), ConfigError, "model_names must map"),
    (
        lambda i: VectorIndex(4, "IVF64,Flat").add(["a"], np.ones((1, 4))),
        ConfigError,
        "needs training",
    ),
]


@pytest.mark.parametrize(("call", "error", "message"), BAD_INPUTS)
def test_bad_input_names_the_argument(call, error, message):
    index = VectorIndex(4, "Flat")
    index.add(["seed"], np.ones((1, 4), dtype=np.float32))
    with pytest.raises(error, match=message) as info:
        call(index)
    assert isinstance(info.value, ShelfwiseError)
    assert len(index) == 1  # a failed call changes nothing


def test_vectors_are_normalised_and_meta_defaults():
    index = VectorIndex(3, "Flat")
    index.add(["a", "b"], np.array([[3.0, 0, 4.0], [0, 2.0, 0]]))
    np.testing.assert_allclose(index.vector("a"), [0.6, 0, 0.8], atol=1e-6)
    assert index.meta("b") == ItemMeta("", 0.0, True)
    got, scores = index.search(np.array([0, 0, 0.0]), k=2)  # a zero query scores 0 everywhere
    assert set(got[0]) == {"a", "b"} and np.allclose(scores, 0)
    assert CATEGORIES  # keep the shared constant import meaningful
