"""The sponsored slate layout: which slots are ads, what fills them, and their propensities."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest

from shelfwise.config import load_config
from shelfwise.errors import ConfigError
from shelfwise.sponsored import SponsoredLayout, layout_propensities

LOGITS = np.array([0.3, 1.2, -0.4, 0.1, 0.9])
SPONSORED = np.array([False, True, False, True, False])
BIDS = np.array([0.0, 0.5, 0.0, 2.0, 0.0])


def _all_slates(layout: SponsoredLayout, n: int, k: int, sponsored: np.ndarray):
    ads = layout.ad_slots(k, int((~sponsored).sum()), int(sponsored.sum()))
    for order in itertools.permutations(range(n), k):
        if all(sponsored[a] == ads[j] for j, a in enumerate(order)):
            yield np.array(order), ads


def test_ad_slots_hold_only_sponsored_and_organic_slots_only_organic():
    layout = SponsoredLayout((1, 3), bid_weight=1.0)
    rng = np.random.default_rng(0)
    n = 12
    sponsored = np.zeros(n, bool)
    sponsored[[2, 5, 9]] = True
    bids = np.where(sponsored, 0.4, 0.0)
    for _ in range(200):
        laid = layout.select(rng.normal(size=n), sponsored, 6, rng, bids=bids)
        items = laid.slate.item_ids
        assert laid.ads.tolist() == [False, True, False, True, False, False]
        assert sponsored[items[laid.ads]].all() and not sponsored[items[~laid.ads]].any()
        assert len(set(items.tolist())) == 6
        assert np.all((laid.slate.propensities > 0) & (laid.slate.propensities <= 1))


@pytest.mark.parametrize("logits", [LOGITS, np.stack([LOGITS, LOGITS[::-1] * 2])])
def test_propensities_multiply_to_a_distribution_over_every_slate(logits):
    """Summed over every possible slate, the product of the per-slot propensities is 1."""
    layout = SponsoredLayout((1,), bid_weight=0.7)
    org, ads_lg = layout.pool_logits(logits, SPONSORED, BIDS)
    total = 0.0
    for order, ads in _all_slates(layout, 5, 3, SPONSORED):
        total += float(np.prod(layout_propensities(org, ads_lg, order, ads)))
    assert total == pytest.approx(1.0, abs=1e-12)


def test_logged_propensities_match_recomputation_and_frequencies():
    layout = SponsoredLayout((1,), bid_weight=1.0)
    rng = np.random.default_rng(3)
    org, ads_lg = layout.pool_logits(LOGITS, SPONSORED, BIDS)
    seen: Counter[tuple[int, ...]] = Counter()
    logged: dict[tuple[int, ...], float] = {}
    n_draws = 6000
    for _ in range(n_draws):
        laid = layout.select(LOGITS, SPONSORED, 3, rng, bids=BIDS)
        key = tuple(laid.slate.item_ids.tolist())
        seen[key] += 1
        p = float(np.prod(laid.slate.propensities))
        logged[key] = p
        again = layout_propensities(org, ads_lg, laid.slate.item_ids, laid.ads)
        np.testing.assert_allclose(laid.slate.propensities, again, rtol=1e-12)
    for key, count in seen.most_common(4):
        assert count / n_draws == pytest.approx(logged[key], abs=0.02)


def test_first_ad_is_drawn_in_proportion_to_bid_when_relevance_is_equal():
    layout = SponsoredLayout((0,), bid_weight=1.0)
    logits = np.zeros(5)
    laid = layout.select(logits, SPONSORED, 2, np.random.default_rng(1), bids=BIDS)
    ad = int(laid.slate.item_ids[0])
    assert laid.ads.tolist() == [True, False]
    assert laid.slate.propensities[0] == pytest.approx(BIDS[ad] / BIDS[SPONSORED].sum())
    assert laid.slate.propensities[1] == pytest.approx(1 / 3)  # 3 organic, equal logits


def test_positions_without_sponsored_candidates_fall_back_to_organic():
    layout = SponsoredLayout((0, 2))
    rng = np.random.default_rng(0)
    one_ad = np.array([False, False, True, False, False])
    laid = layout.select(LOGITS, one_ad, 4, rng)
    assert laid.ads.tolist() == [True, False, False, False]  # slot 2 fell back to organic
    assert laid.slate.item_ids[0] == 2
    assert laid.slate.propensities[0] == pytest.approx(1.0)
    none = layout.select(LOGITS, np.zeros(5, bool), 3, rng)
    assert not none.ads.any()
    # too few organic products: the extra slot shows a labelled ad
    mostly_ads = np.array([True, True, True, False, True])
    assert layout.ad_slots(4, 1, 4).tolist() == [True, False, True, True]
    laid = layout.select(LOGITS, mostly_ads, 4, rng)
    assert mostly_ads[laid.slate.item_ids[laid.ads]].all()
    assert not mostly_ads[laid.slate.item_ids[~laid.ads]].any()


def test_no_positions_is_the_plain_plackett_luce_policy():
    from agent.policy.base import plackett_luce_propensities

    laid = SponsoredLayout().select(LOGITS, SPONSORED, 3, np.random.default_rng(5))
    assert not laid.ads.any()
    np.testing.assert_allclose(laid.slate.propensities,
                               plackett_luce_propensities(LOGITS, laid.slate.item_ids))


def test_action_dist_is_the_position_marginals():
    layout = SponsoredLayout((1,), bid_weight=1.0)
    dist = layout.action_dist(LOGITS, SPONSORED, 3, bids=BIDS)
    assert dist.shape == (5, 3)
    np.testing.assert_allclose(dist.sum(axis=0), 1.0)
    assert dist[SPONSORED, 1].sum() == pytest.approx(1.0)
    assert dist[SPONSORED][:, [0, 2]].sum() == 0.0
    rng = np.random.default_rng(2)
    counts = np.zeros((5, 3))
    for _ in range(3000):
        items = layout.select(LOGITS, SPONSORED, 3, rng, bids=BIDS).slate.item_ids
        counts[items, np.arange(3)] += 1
    np.testing.assert_allclose(counts / 3000, dist, atol=0.03)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"positions": (-1,)}, "0-based slot numbers >= 0"),
    ({"positions": (2, 2)}, "must be distinct"),
    ({"positions": "2,6"}, "must be a list of slot numbers"),
    ({"bid_weight": float("nan")}, "bid_weight must be finite and >= 0"),
    ({"bid_weight": -1}, "bid_weight must be finite and >= 0"),
])
def test_bad_layouts_are_named(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        SponsoredLayout(**kwargs)


def test_config_section(tmp_path):
    path = tmp_path / "shelfwise.toml"
    path.write_text("[sponsored]\npositions = [6, 2]\nbid_weight = 0.5\n")
    layout = SponsoredLayout.from_config(load_config(path).sponsored)
    assert layout == SponsoredLayout((2, 6), 0.5)
    assert not SponsoredLayout.from_config(load_config(None).sponsored).enabled
    path.write_text("[sponsored]\npositions = [-2]\n")
    with pytest.raises(ConfigError, match="sponsored.positions"):
        load_config(path)
    with pytest.raises(ConfigError, match="unknown \\[sponsored\\] key"):
        SponsoredLayout.from_config({"slots": [1]})


def test_bids_are_checked_when_they_weigh():
    layout = SponsoredLayout((0,), bid_weight=1.0)
    with pytest.raises(ConfigError, match="needs the candidates' bids"):
        layout.select(LOGITS, SPONSORED, 2, np.random.default_rng(0))
    with pytest.raises(ConfigError, match="finite and >= 0"):
        layout.select(LOGITS, SPONSORED, 2, np.random.default_rng(0),
                      bids=np.array([0, -1.0, 0, 1, 0]))
