"""Offline ranking evaluation: splits, metrics by hand, baselines against references, reports."""

import json
import math
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from encoders.behaviour.base import Interactions, make_behaviour_model
from shelfwise.errors import ConfigError, ShelfwiseError
from shelfwise.evaluate.offline import OfflineConfig, evaluate_offline
from shelfwise.evaluate.offline_metrics import bootstrap_means
from shelfwise.evaluate.offline_report import markdown_table, plot_ndcg, rich_table
from shelfwise.evaluate.popular import MostPopular
from shelfwise.evaluate.splits import (
    NotEnoughInteractionsError,
    first_occurrences,
    leave_last_out,
    time_split,
)

ITEMS = ["a", "b", "c", "d"]
FIXED = np.array([4.0, 3.0, 2.0, 1.0])  # a > b > c > d for everybody


def _log(rows, items=ITEMS):
    df = pd.DataFrame(rows, columns=["user_id", "product_id", "time"])
    return Interactions.from_frame(df, item_ids=items)


@pytest.fixture
def tiny():
    # u1: history a, b -> test c; u2: history b -> test d; u3: history c -> test b;
    # u4 has one item: training only.
    return _log([("u1", "a", 1), ("u1", "b", 2), ("u1", "c", 3), ("u2", "b", 1), ("u2", "d", 2),
                 ("u3", "c", 1), ("u3", "b", 2), ("u4", "c", 1)])


def _fixed(histories):
    return np.tile(FIXED, (len(histories), 1))


def _run(data, scorers=None, **cfg):
    base = {"baselines": (), "reference": None, "min_users": 1, "n_bootstrap": 50, "ks": (1, 2)}
    base.update(cfg)
    return evaluate_offline(data, scorers, OfflineConfig(**base))


def test_metrics_by_hand(tiny):
    # History excluded: u1 ranks c, d -> c at 1; u2 ranks a, c, d -> d at 3; u3 ranks a, b, d
    # -> b at 2.
    m = _run(tiny, {"fixed": _fixed}).model("fixed").metrics
    assert m["hr@1"].value == pytest.approx(1 / 3)
    assert m["hr@2"].value == pytest.approx(2 / 3)
    assert m["ndcg@1"].value == pytest.approx(1 / 3)
    assert m["ndcg@2"].value == pytest.approx((1 + 1 / math.log2(3)) / 3)
    assert m["mrr"].value == pytest.approx((1 + 1 / 3 + 1 / 2) / 3)
    # top-1 lists c, a, a -> 2 of 4 items; top-2 lists cover all four.
    assert m["coverage@1"].value == pytest.approx(0.5)
    assert m["coverage@2"].value == pytest.approx(1.0)
    assert math.isnan(m["coverage@1"].low)
    # Training counts a=1, b=2, c=2, d=0 -> percentiles a=1/3, b=c=5/6, d=0.
    assert m["pop@1"].value == pytest.approx((5 / 6 + 1 / 3 + 1 / 3) / 3)
    assert m["hr@2"].low <= m["hr@2"].value <= m["hr@2"].high


def test_history_included_changes_ranks(tiny):
    # With the history in the ranking: u1 gets a, b, c -> c at 3; u2 a, b, c, d -> d at 4;
    # u3 a, b -> b at 2.
    rep = _run(tiny, {"fixed": _fixed}, exclude_history=False)
    assert rep.model("fixed").metrics["mrr"].value == pytest.approx((1 / 3 + 1 / 4 + 1 / 2) / 3)
    assert "history INCLUDED" in rep.protocol


def test_multi_target_ndcg_by_hand():
    # Time split at t=10: u1 trains on a, tests b (new) and d (new); u2 trains on d, tests c.
    data = _log([("u1", "a", 1), ("u1", "b", 10), ("u1", "d", 11), ("u2", "d", 2),
                 ("u2", "c", 12)])
    rep = _run(data, {"fixed": _fixed}, split="time", cut_time=10.0, ks=(3,))
    # u1 (a excluded): b, c, d -> targets at ranks 1 and 3; u2 (d excluded): a, b, c -> c at 3.
    u1 = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    u2 = (1 / math.log2(4)) / 1.0
    m = rep.model("fixed").metrics
    assert m["ndcg@3"].value == pytest.approx((u1 + u2) / 2)
    assert m["hr@3"].value == 1.0
    assert m["mrr"].value == pytest.approx((1 + 1 / 3) / 2)
    assert rep.n_targets == 3


def _random_log(seed=0, n_users=30, n_items=25, n=400):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"user_id": [f"u{u}" for u in rng.integers(0, n_users, n)],
                       "product_id": [f"i{i}" for i in rng.integers(0, n_items, n)],
                       "time": rng.integers(0, 60, n).astype(float)})  # many ties, repeats
    return Interactions.from_frame(df, item_ids=[f"i{i}" for i in range(n_items)])


def _train_pairs(split):
    return set(zip(split.train.user.tolist(), split.train.item.tolist(), strict=True))


@pytest.mark.parametrize("validation", [False, True])
def test_leave_last_out_has_no_future_leakage(validation):
    data = _random_log()
    split = leave_last_out(data, validation=validation)
    dedup = first_occurrences(data)
    first_time = {(u, i): t for u, i, t in zip(dedup.user.tolist(), dedup.item.tolist(),
                                                dedup.time.tolist(), strict=True)}
    train = _train_pairs(split)
    assert len(split.test) > 10
    for u, hist, tgt in zip(split.test.users, split.test.histories, split.test.targets,
                            strict=True):
        (t,) = tgt
        assert (u, t) not in train and t not in hist
        assert all(first_time[(u, h)] <= first_time[(u, t)] for h in hist)
        own = split.train.item[split.train.user == u]
        if validation:
            (v,) = split.valid.targets[list(split.valid.users).index(u)]
            assert (u, v) not in train and hist[-1] == v
            np.testing.assert_array_equal(own, hist[:-1])
        else:
            np.testing.assert_array_equal(own, hist)  # the history is the training sequence
    kept = {int(u) for u in split.test.users}
    for u in set(range(data.n_users)) - kept:  # not evaluated: everything stays in train
        assert np.sum(split.train.user == u) == np.sum(dedup.user == u)


def test_time_split_has_no_future_leakage():
    data = _random_log(1)
    split = time_split(data, cut_time=40.0)
    assert split.train.time.max() < 40.0
    dedup = first_occurrences(data)
    after = {(u, i) for u, i, t in zip(dedup.user.tolist(), dedup.item.tolist(),
                                       dedup.time.tolist(), strict=True) if t >= 40.0}
    for u, hist, tgt in zip(split.test.users, split.test.histories, split.test.targets,
                            strict=True):
        assert len(hist) > 0 and len(tgt) > 0
        assert not set(tgt.tolist()) & set(hist.tolist())
        assert all((u, t) in after for t in tgt.tolist())
        np.testing.assert_array_equal(split.train.item[split.train.user == u], hist)
    # every shopper with history and a new item after the cut is evaluated
    expected = {u for u, _ in after if np.any(split.train.user == u)
                and any(i not in split.train.item[split.train.user == u]
                        for uu, i in after if uu == u)}
    assert set(split.test.users.tolist()) == expected


def test_time_split_default_cut_and_bad_fraction():
    data = _random_log(2)
    split = time_split(data, test_fraction=0.25)
    dedup = first_occurrences(data)
    share = np.mean(dedup.time >= split.cut_time)
    assert 0.15 < share < 0.35
    with pytest.raises(ConfigError, match="test_fraction must be in"):
        time_split(data, test_fraction=1.5)


def test_first_occurrences_keeps_first_time_and_largest_weight():
    df = pd.DataFrame({"user_id": ["u", "u", "u", "v"], "product_id": ["a", "b", "a", "a"],
                       "time": [1.0, 2.0, 3.0, 1.0], "weight": [1.0, 1.0, 4.0, 2.0]})
    d = first_occurrences(Interactions.from_frame(df, item_ids=ITEMS))
    assert list(zip(d.user.tolist(), d.item.tolist(), d.time.tolist(), d.weight.tolist(),
                    strict=True)) == [(0, 0, 1.0, 4.0), (0, 1, 2.0, 1.0), (1, 0, 1.0, 2.0)]


def test_sampled_mode_is_labelled_and_never_worse_than_full():
    data = _random_log(3)
    rng = np.random.default_rng(0)
    noise = rng.normal(size=data.n_items)

    def scorer(histories):
        return np.tile(noise, (len(histories), 1))

    full = _run(data, {"s": scorer}, ks=(5,))
    sampled = _run(data, {"s": scorer}, ks=(5,), negatives=5)
    assert full.mode == "full" and "full ranking over all 25 items" in full.protocol
    assert sampled.mode == "sampled" and sampled.negatives == 5
    assert "SAMPLED" in sampled.protocol and "5 random negatives" in sampled.protocol
    assert sampled.to_dict()["mode"] == "sampled"
    assert "SAMPLED" in markdown_table(sampled)
    # a rank among a subset of the catalog is never worse than among all of it
    assert sampled.model("s").metrics["mrr"].value >= full.model("s").metrics["mrr"].value
    assert sampled.model("s").metrics["hr@5"].value >= full.model("s").metrics["hr@5"].value


def test_most_popular_matches_counting():
    data = _random_log(4)
    split = leave_last_out(data)
    model = MostPopular()
    model.fit(split.train)
    counts = Counter(split.train.item.tolist())
    expected = np.array([counts.get(i, 0) for i in range(data.n_items)], dtype=np.float32)
    scores = model.score([np.array([0]), np.array([1, 2])])
    np.testing.assert_array_equal(scores, np.stack([expected, expected]))
    rep = _run(data, baselines=("mostpop",), ks=(3,))
    # the evaluator's most-popular equals a counting scorer (same tie-break stream)
    ref = _run(data, {"count": lambda h: np.tile(expected, (len(h), 1))}, ks=(3,))
    assert rep.model("mostpop").metrics["ndcg@3"] == ref.model("count").metrics["ndcg@3"]


def test_ease_matches_dense_closed_form():
    data = _random_log(5)
    X = data.csr(binary=True).toarray().astype(np.float64)
    lam = 7.0
    P = np.linalg.inv(X.T @ X + lam * np.eye(data.n_items))
    B = np.eye(data.n_items) - P / np.diag(P)[None, :]
    np.fill_diagonal(B, 0.0)
    model = make_behaviour_model("ease", l2=lam)
    model.fit(data)
    hist = [np.array([0, 3]), np.array([5])]
    x = np.zeros((2, data.n_items))
    x[0, [0, 3]] = 1
    x[1, 5] = 1
    np.testing.assert_allclose(model.score(hist), x @ B, rtol=1e-4, atol=1e-5)


def test_itemknn_matches_sklearn_cosine():
    from sklearn.metrics.pairwise import cosine_similarity

    data = _random_log(6)
    X = data.csr(binary=True).toarray()
    S = cosine_similarity(X.T)
    np.fill_diagonal(S, 0.0)
    model = make_behaviour_model("itemknn", k=data.n_items)
    model.fit(data)
    hist = [np.array([1, 2, 9]), np.array([4])]
    x = np.zeros((2, data.n_items))
    x[0, [1, 2, 9]] = 1
    x[1, 4] = 1
    np.testing.assert_allclose(model.score(hist), x @ S, rtol=1e-4, atol=1e-6)


def test_baselines_run_beside_candidates_with_paired_differences():
    data = _random_log(7, n_users=60, n_items=20, n=900)
    rep = evaluate_offline(data, {"fixed": lambda h: np.tile(np.arange(20.0), (len(h), 1))},
                           OfflineConfig(min_users=5, n_bootstrap=100, ks=(5,),
                                         baseline_configs={"ease": {"l2": 10.0}}))
    assert [m.name for m in rep.models] == ["mostpop", "itemknn", "ease", "fixed"]
    assert [m.role for m in rep.models] == ["baseline"] * 3 + ["candidate"]
    assert rep.reference == "mostpop" and rep.model("mostpop").diff == {}
    for m in rep.models[1:]:
        d = m.diff["ndcg@5"]
        assert d.value == pytest.approx(m.metrics["ndcg@5"].value
                                        - rep.model("mostpop").metrics["ndcg@5"].value)
        assert d.low <= d.value <= d.high
    assert rep.model("fixed").fit_seconds is None and rep.model("ease").fit_seconds >= 0
    json.dumps(rep.to_dict())  # serialisable as it is
    assert rep.protocol in rich_table(rep).title


def test_bootstrap_is_paired_seeded_and_chunk_free():
    rng = np.random.default_rng(0)
    v = rng.random((2, 50))
    a = bootstrap_means(np.vstack([v, v[0]]), 300, seed=3, chunk=7)
    b = bootstrap_means(np.vstack([v, v[0]]), 300, seed=3, chunk=300)
    np.testing.assert_allclose(a, b)
    np.testing.assert_allclose(a[0], a[2], atol=1e-12)  # same resamples for every row
    assert abs(a[0].mean() - v[0].mean()) < 0.02


def test_plot_names_the_protocol(tiny, tmp_path):
    rep = _run(tiny, {"fixed": _fixed}, negatives=2)
    path = plot_ndcg(rep, tmp_path / "plots" / "ndcg.png", k=2)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ConfigError, match="k=7 is not among"):
        plot_ndcg(rep, tmp_path / "x.png", k=7)


@pytest.mark.parametrize("scorer, match", [
    (lambda h: np.full((len(h), 4), np.nan), "model 'bad' returned NaN"),
    (lambda h: np.zeros((len(h), 3)), r"model 'bad' returned scores of shape \(3, 3\)"),
])
def test_bad_scores_are_named(tiny, scorer, match):
    with pytest.raises(ShelfwiseError, match=match):
        _run(tiny, {"bad": scorer})


@pytest.mark.parametrize("kwargs, error, match", [
    ({"split": "random"}, ConfigError, "unknown split 'random'; choose one of: leave-last-out"),
    ({"ks": (0,)}, ConfigError, "ks must be positive ints"),
    ({"negatives": 0}, ConfigError, "negatives must be a positive int"),
    ({"on": "valid"}, ConfigError, "on='valid' needs validation=True"),
    ({"n_bootstrap": 5}, ConfigError, "n_bootstrap must be at least 10"),
    ({"baselines": ("mostpop",), "baseline_configs": {"ease": {}}}, ConfigError,
     "baseline_configs names"),
])
def test_bad_config(kwargs, error, match):
    with pytest.raises(error, match=match):
        OfflineConfig(**kwargs)


def test_unknown_baseline_and_duplicate_names(tiny):
    with pytest.raises(ConfigError, match="unknown baseline 'pop'; choose mostpop or one of"):
        _run(tiny, baselines=("pop",))
    with pytest.raises(ConfigError, match="model name.*used twice.*mostpop"):
        _run(tiny, {"mostpop": _fixed}, baselines=("mostpop",))


def test_too_few_shoppers(tiny):
    with pytest.raises(NotEnoughInteractionsError, match="only 3 shoppers can be evaluated"):
        _run(tiny, {"fixed": _fixed}, min_users=10)


def test_batches_do_not_change_results_and_valid_set_is_scored():
    data = _random_log(8)
    one = _run(data, {"s": _noise_scorer(data)}, ks=(5,), batch_users=1)
    many = _run(data, {"s": _noise_scorer(data)}, ks=(5,), batch_users=1024)
    assert one.model("s").to_dict()["metrics"] == many.model("s").to_dict()["metrics"]
    valid = _run(data, {"s": _noise_scorer(data)}, ks=(5,), validation=True, on="valid")
    split = leave_last_out(data, validation=True)
    assert valid.held_out == "valid" and valid.n_users == len(split.valid)
    assert "validation item" in valid.protocol


def _noise_scorer(data):
    noise = np.random.default_rng(1).normal(size=data.n_items)

    def scorer(histories):
        # depends on the history, so that batching mistakes would show
        out = np.tile(noise, (len(histories), 1))
        for row, h in enumerate(histories):
            out[row, (np.asarray(h) + 1) % data.n_items] += 1.0
        return out

    return scorer
