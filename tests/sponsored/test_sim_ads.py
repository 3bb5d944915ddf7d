"""Ads in the shopper simulator: seeded sponsored catalogue, ad revenue and annoyance."""

from __future__ import annotations

import numpy as np
import pytest

from agent.policy.registry import make_policy
from shelfwise.errors import CatalogError, ConfigError
from shelfwise.rewards import RewardWeights
from shelfwise.sim import SimBatch, SimConfig, random_policy
from shelfwise.sim.ads import SponsoredSimBatch, layout_policy_fn
from shelfwise.sim.shoppers import sponsored_catalog
from shelfwise.sponsored import SponsoredLayout
from tests.sim.conftest import make_store

SMALL = {"n_candidates": 30, "n_random_candidates": 5}


@pytest.fixture(scope="module")
def store():
    latent, vectors, _ = make_store(400, seed=3)
    return latent, vectors


def test_without_ads_the_rewards_are_the_plain_simulators(store):
    latent, vectors = store
    cfg = SimConfig(**SMALL, reward="purchase_value")
    plain = SimBatch(latent, vectors, cfg).run(random_policy(cfg.k), 60, seed=4)
    ads = SponsoredSimBatch(latent, vectors, cfg).run(random_policy(cfg.k), 60, seed=4)
    np.testing.assert_array_equal(plain.returns, ads.returns)
    np.testing.assert_array_equal(plain.lengths, ads.lengths)


def test_sponsored_catalogue_is_seeded(store):
    latent, _ = store
    cfg = SimConfig(sponsored_share=0.25, bid_range=(0.2, 0.6), sponsored_seed=9)
    sp, bids = sponsored_catalog(latent, cfg)
    again = sponsored_catalog(latent, cfg)
    assert sp.sum() == 100
    np.testing.assert_array_equal(sp, again[0])
    assert np.all((bids[sp] >= 0.2) & (bids[sp] <= 0.6)) and not bids[~sp].any()
    own = latent.assign(sponsored=np.arange(400) < 3, bid=1.5)
    sp, bids = sponsored_catalog(own, cfg)
    assert sp.sum() == 3 and bids.sum() == pytest.approx(4.5)
    with pytest.raises(CatalogError, match="row 2, column 'bid'"):
        sponsored_catalog(own.assign(bid=[1.0, 1.0, -1.0] + [0.0] * 397), cfg)


def test_sim_config_checks_ad_ranks():
    with pytest.raises(ConfigError, match="sponsored_positions"):
        SimConfig(k=5, sponsored_positions=(5,))
    with pytest.raises(ConfigError, match="bid_range"):
        SimConfig(bid_range=(1.0, 0.5))


def test_annoyance_at_irrelevant_ads_shortens_sessions(store):
    latent, vectors = store
    lengths = {}
    for annoyance in (0.0, 2.0):
        cfg = SimConfig(**SMALL, sponsored_share=0.3, sponsored_positions=(0, 2),
                        sponsored_annoyance=annoyance)
        sim = SponsoredSimBatch(latent, vectors, cfg)
        fn = layout_policy_fn(sim, make_policy("random", dim=16), SponsoredLayout((0, 2)))
        stats, totals = sim.run_components(fn, 150, seed=1)
        lengths[annoyance] = stats.lengths.mean()
        assert totals["annoyance"].sum() > 0
        assert totals["ad_revenue"].sum() > 0
    assert lengths[2.0] < lengths[0.0] - 1.0, lengths


def test_ad_revenue_and_components_per_step(store):
    latent, vectors = store
    cfg = SimConfig(**SMALL, sponsored_share=0.3, sponsored_positions=(1,))
    weights = RewardWeights(click=1.0, ad_revenue=10.0)
    sim = SponsoredSimBatch(latent, vectors, cfg, reward=weights)
    sim.reset(40, np.random.default_rng(0))
    fn = layout_policy_fn(sim, make_policy("greedy", dim=16), SponsoredLayout((1,), 1.0))
    total = 0.0
    for _ in range(3):
        acts = fn(sim.states, sim.candidates, np.random.default_rng(1))
        res = sim.step(acts, np.random.default_rng(2))
        comp = sim.last_components
        assert sim.last_ads[:, 1].any() and not sim.last_ads[:, [0, 2, 3, 4]].any()
        np.testing.assert_allclose(res.rewards, comp.click + 10.0 * comp.ad_revenue)
        paid = comp.ad_revenue > 0
        np.testing.assert_allclose(comp.ad_revenue[paid], sim.bids[res.clicked_row[paid]])
        assert np.all(res.clicked_rank[paid] == 1)
        total += comp.ad_revenue.sum()
    assert total > 0
