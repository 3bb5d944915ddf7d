"""Each model on a tiny synthetic log whose right answer is planted."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from encoders.behaviour import make_behaviour_model, with_content

sys.path.insert(0, str(Path(__file__).parent))
from _behaviour_data import (  # noqa: E402
    CLUSTERS,
    N_PAIRS,
    PER_CLUSTER,
    cluster_log,
    co_purchase_log,
    sequence_log,
)

ITEM_MODELS = {
    "ease": {"l2": 10.0},
    "als": {"factors": 16, "iterations": 10, "regularization": 0.01},
    "itemknn": {"k": 20},
}
SASREC = {"dim": 32, "max_len": 12, "max_epochs": 20, "patience": 20, "val_fraction": 0.0,
          "batch_size": 32, "lr": 5e-3, "dropout": 0.1}


def _masked_top(scores: np.ndarray, histories: list[np.ndarray]) -> np.ndarray:
    s = scores.copy()
    for i, h in enumerate(histories):
        s[i, h] = -np.inf
    return s.argmax(axis=1)


@pytest.mark.parametrize("name", sorted(ITEM_MODELS))
def test_co_purchase_partner_ranks_first(name):
    model = make_behaviour_model(name, **ITEM_MODELS[name])
    model.fit(co_purchase_log(seed=0))
    histories = [np.array([i]) for i in range(2 * N_PAIRS)]
    top = _masked_top(model.score(histories), histories)
    partner = np.arange(2 * N_PAIRS) ^ 1  # 0 <-> 1, 2 <-> 3, ...
    np.testing.assert_array_equal(top, partner)


@pytest.mark.parametrize("name", sorted(ITEM_MODELS))
def test_co_purchase_partner_beats_popular_noise(name):
    # a history of one pair item and one noise item still ranks the partner first
    model = make_behaviour_model(name, **ITEM_MODELS[name])
    model.fit(co_purchase_log(seed=0))
    histories = [np.array([20, 2]), np.array([6, 15])]
    np.testing.assert_array_equal(_masked_top(model.score(histories), histories), [3, 7])


@pytest.fixture(scope="module")
def sasrec():
    model = make_behaviour_model("sasrec", **SASREC)
    model.fit(sequence_log(seed=0, n_users=200))
    return model


def test_sasrec_follows_planted_chains(sasrec):
    # the chains: 0,1,2 | 1,0,3 | 4,5,6 | 7,8,9 ; items 10..15 are noise
    histories = [np.array([4, 5]), np.array([7, 8]), np.array([12, 4, 5])]
    np.testing.assert_array_equal(sasrec.score(histories).argmax(axis=1), [6, 9, 6])


def test_sasrec_uses_order_not_just_the_set(sasrec):
    # the same two items in the other order lead to another item: item-item models cannot
    s = sasrec.score([np.array([0, 1]), np.array([1, 0])])
    assert s[0].argmax() == 2
    assert s[1].argmax() == 3


def test_sasrec_moves_on_after_a_chain_ends(sasrec):
    # after [0, 1, 2] a chain has ended: the next item starts a chain or is noise, not 2 again
    s = sasrec.score([np.array([0, 1, 2])])[0]
    assert s.argmax() in {0, 1, 4, 7, *range(10, 16)}
    assert s[2] < np.sort(s)[-4]


def test_sasrec_sequence_vectors_separate_contexts(sasrec):
    uv = sasrec.user_vectors([np.array([0, 1]), np.array([7, 0, 1]), np.array([4, 5])])
    uv = uv / np.linalg.norm(uv, axis=1, keepdims=True)
    assert uv[0] @ uv[1] > uv[0] @ uv[2]


def test_sasrec_early_stopping_keeps_the_best_epoch():
    model = make_behaviour_model("sasrec", dim=16, max_len=8, max_epochs=30, patience=2,
                                 val_fraction=0.3, batch_size=32, lr=5e-3)
    log = sequence_log(seed=3, n_users=120)
    model.fit(log)
    stats = model.train_stats
    # eligible: users whose last product is new to them (a repeat is no next-item target)
    eligible = sum(len(s) >= 3 and s[-1] not in s[:-1] for s in log.sequences())
    assert stats["val_users"] == round(0.3 * eligible) and stats["loss"] == "full_softmax"
    assert stats["epochs"] <= 30 and stats["best_epoch"] <= stats["epochs"]
    assert stats["epochs"] - stats["best_epoch"] <= 2 or stats["epochs"] == 30
    assert 0.0 < stats["val_ndcg10"] <= 1.0


def test_sasrec_sampled_softmax_learns_chains_too():
    model = make_behaviour_model("sasrec", **{**SASREC, "full_softmax_max_items": 4,
                                              "n_negatives": 8})
    model.fit(sequence_log(seed=1, n_users=200))
    assert model.train_stats["loss"] == "sampled_softmax(8)"
    assert model.score([np.array([4, 5]), np.array([7, 8])]).argmax(axis=1).tolist() == [6, 9]


def test_sasrec_long_histories_are_windowed():
    from encoders.behaviour.sasrec import _windows

    w = _windows([np.arange(7), np.arange(1), np.arange(2)], max_len=3)
    # 7 items -> windows ending at 7, 4, (1 has < 2 items: none); every item is a target once
    assert w.tolist() == [[4, 5, 6, 7], [1, 2, 3, 4], [1, 2, 0, 0]]


# ------------------------------------------------------------------------- cold start


@pytest.fixture(scope="module")
def clusters():
    return cluster_log(seed=0)


COLD_MODELS = {**ITEM_MODELS, "sasrec": {**SASREC, "max_len": 6, "max_epochs": 15}}


@pytest.mark.parametrize("name", sorted(COLD_MODELS))
def test_cold_items_of_the_shoppers_cluster_rank_first(name, clusters):
    data, content, cold = clusters
    model = with_content(make_behaviour_model(name, **COLD_MODELS[name]), content)
    model.fit(data)
    assert (data.item_counts()[cold] == 0).all()
    histories = [np.array([c * PER_CLUSTER, c * PER_CLUSTER + 1]) for c in range(CLUSTERS)]
    s = model.score(histories)[:, cold]             # scores of the 8 cold items only
    cold_cluster = cold // PER_CLUSTER
    for c in range(CLUSTERS):
        top2 = cold_cluster[np.argsort(-s[c])[:2]]
        assert (top2 == c).all(), (c, s[c])


@pytest.mark.parametrize("name", ["als", "sasrec"])
def test_cold_item_vectors_land_in_their_cluster(name, clusters):
    data, content, cold = clusters
    model = with_content(make_behaviour_model(name, **COLD_MODELS[name]), content)
    model.fit(data)
    v = model.item_vectors()
    v = v / np.linalg.norm(v, axis=1, keepdims=True)
    warm = np.setdiff1d(np.arange(v.shape[0]), cold)
    nearest = warm[np.argmax(v[cold] @ v[warm].T, axis=1)]
    np.testing.assert_array_equal(nearest // PER_CLUSTER, cold // PER_CLUSTER)
    # a product added after training maps into the same space
    new = model.content_to_vectors(content[cold[:1]])
    np.testing.assert_allclose(new[0], v[cold[0]] * np.linalg.norm(model.item_vectors()[cold[0]]),
                               rtol=1e-5, atol=1e-6)


def test_without_content_cold_items_are_not_ranked_by_cluster(clusters):
    # the control: plain EASE gives every cold item the same score (0), so the test above
    # measures what content adds
    data, _, cold = clusters
    model = make_behaviour_model("ease", **ITEM_MODELS["ease"])
    model.fit(data)
    assert np.ptp(model.score([np.array([0, 1])])[0, cold]) == 0.0


def test_blend_events_zero_keeps_warm_scores(clusters):
    data, content, cold = clusters
    plain = make_behaviour_model("ease", **ITEM_MODELS["ease"])
    plain.fit(data)
    wrapped = with_content(plain, content, blend_events=0.0)  # already fitted: map fitted now
    h = [np.array([0, 1]), np.array([21])]
    warm = np.setdiff1d(np.arange(data.n_items), cold)
    np.testing.assert_allclose(wrapped.score(h)[:, warm], plain.score(h)[:, warm], rtol=1e-6)


def test_content_for_score_models_cannot_map_new_products(clusters):
    from encoders.errors import EncoderError

    data, content, _ = clusters
    model = with_content(make_behaviour_model("itemknn"), content)
    model.fit(data)
    with pytest.raises(EncoderError, match="has no item vectors"):
        model.content_to_vectors(content[:1])


@pytest.mark.parametrize(("content", "message"), [
    (np.zeros(40), r"2-d array \(n_items, d_c\)"),
    (np.full((40, 3), np.nan), "content row 0 has non-finite values"),
    (np.array([["a"]]), "must be numeric"),
])
def test_bad_content_is_named(content, message):
    from encoders.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        with_content(make_behaviour_model("ease"), content)


def test_content_rows_must_match_the_catalog(clusters):
    from encoders.errors import ConfigError

    data, content, _ = clusters
    model = with_content(make_behaviour_model("ease"), content[:10])
    with pytest.raises(ConfigError, match="content has 10 rows, the interactions have 40 items"):
        model.fit(data)


@pytest.mark.parametrize("weighting", ["uniform", "sqrt", "events"])
def test_content_prior_is_the_weighted_mean_item(weighting, clusters):
    # with an overwhelming ridge the map is its intercept: the (weighted) mean item vector
    data, content, cold = clusters
    als = make_behaviour_model("als", factors=8, iterations=5)
    als.fit(data)
    model = with_content(als, content, ridge=1e9, weighting=weighting)
    counts = data.item_counts()
    w = {"uniform": counts > 0, "sqrt": np.sqrt(counts), "events": counts}[weighting]
    expected = (w[:, None] * als.item_vectors()).sum(0) / w.sum()
    np.testing.assert_allclose(model.content_to_vectors(content[:3]), np.tile(expected, (3, 1)),
                               rtol=1e-4, atol=1e-6)


def test_unknown_weighting_is_named():
    from encoders.errors import ConfigError

    with pytest.raises(ConfigError, match="weighting must be 'auto', 'uniform', 'sqrt' or"):
        with_content(make_behaviour_model("ease"), np.ones((3, 2)), weighting="popular")


def test_sasrec_reads_view_then_buy_of_one_product_as_one_step():
    # A shop's log repeats each product (viewed, then bought): the model must still learn the
    # next *product* of a chain, and its validation must not be won by repeating the last one.
    from _behaviour_data import frame, item_ids

    from encoders.behaviour import Interactions

    base = sequence_log(seed=0, n_users=200)
    rows = []
    for u, i, t in zip(base.user, base.item, base.time, strict=True):
        rows += [(int(u), int(i), 2.0 * t), (int(u), int(i), 2.0 * t + 1.0)]
    doubled = Interactions.from_frame(frame(rows), item_ids=item_ids(base.n_items))
    model = make_behaviour_model("sasrec", **{**SASREC, "val_fraction": 0.3})
    model.fit(doubled)
    histories = [np.array([4, 5]), np.array([7, 8])]
    np.testing.assert_array_equal(model.score(histories).argmax(axis=1), [6, 9])
    assert model.train_stats["val_users"] > 0
    assert model.train_stats["val_ndcg10"] < 0.99  # not the trivial "repeat the last item"
