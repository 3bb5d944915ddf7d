"""The multi-objective reward: ad revenue on logged slates, typed weights, per-step components."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from shelfwise.errors import ConfigError, EventLogError
from shelfwise.events import Click, Impression, Purchase, SQLiteEventStore
from shelfwise.rewards import (
    RewardFunction,
    RewardWeights,
    rewards_for,
    step_components,
)


@pytest.fixture
def store(tmp_path):
    s = SQLiteEventStore(tmp_path / "e.sqlite")
    s.log_many([
        Impression("e0", "s0", "u", ("a", "b", "c"), (0.5, 0.5, 0.5), "greedy", "1",
                   session_id="S", time=1.0),
        Impression("e1", "s1", "u", ("d",), (1.0,), "greedy", "1", session_id="S", time=2.0),
        Click("c0", "s0", "u", "b", 1, time=1.5),
        Click("c1", "s0", "u", "c", 2, time=1.6),
        Purchase("p0", "s0", "u", "a", 0, value=20.0, time=1.7),
    ])
    yield s
    s.close()


def test_ad_revenue_of_a_logged_slate_by_hand(store):
    # b is an ad (sponsored, at ad slot 1); c is sponsored but shown at an organic slot
    fn = RewardWeights(click=1.0, purchase_value=0.01, ad_revenue=2.0, retention=0.3).function(
        bids={"b": 0.5, "c": 0.7}, ad_positions=frozenset({1}))
    np.testing.assert_allclose(rewards_for(store, "s0", fn),
                               [0.2 + 0.1, 1 + 2 * 0.5 + 0.1, 1 + 0.1])
    any_slot = RewardFunction({"ad_revenue": 1.0}, bids={"b": 0.5, "c": 0.7})
    np.testing.assert_allclose(rewards_for(store, "s0", any_slot), [0, 0.5, 0.7])
    assert RewardFunction.parse("click+2*ad_revenue", bids={"b": 1}).spec == "click+2*ad_revenue"


def test_ad_revenue_from_the_flags_logged_with_the_impression(tmp_path):
    with SQLiteEventStore(tmp_path / "ads.sqlite") as s:
        s.log_many([
            Impression("e0", "s0", "u", ("a", "b", "c"), (0.5, 0.5, 0.5), "greedy", "1",
                       ads=(False, True, True), ad_bids=(0.0, 0.5, 0.25), time=1.0),
            Click("c0", "s0", "u", "a", 0, time=1.5),
            Click("c1", "s0", "u", "b", 1, time=1.6),
        ])
        imp = s.impression("s0")
        assert (imp.ads, imp.ad_bids) == ((False, True, True), (0.0, 0.5, 0.25))
        # the logged flags win over the catalog's bids (here c was not clicked)
        fn = RewardFunction({"click": 1.0, "ad_revenue": 2.0}, bids={"a": 9.0})
        np.testing.assert_allclose(rewards_for(s, "s0", fn), [1.0, 2.0, 0.0])
    with pytest.raises(EventLogError, match="ads must have one flag per item"):
        Impression("e1", "s1", "u", ("a", "b"), (0.5, 0.5), "greedy", "1", ads=(True,))
    with pytest.raises(EventLogError, match="ad_bids must be 2 numbers >= 0"):
        Impression("e1", "s1", "u", ("a", "b"), (0.5, 0.5), "greedy", "1", ads=(True, False),
                   ad_bids=(-1.0, 0.0))


def test_defaults_are_todays_reward(store):
    assert RewardWeights().as_dict() == {"click": 1.0}
    np.testing.assert_allclose(rewards_for(store, "s0", RewardWeights().function()),
                               rewards_for(store, "s0"))
    assert RewardWeights.for_sim("purchase_value").as_dict() == {"purchase_value": 1.0}


def test_step_components_and_combine_by_hand():
    # 4 sessions, k = 3; session 3 was already over; ads at rank 1 of sessions 0 and 1
    step = SimpleNamespace(
        clicked_rank=np.array([1, 1, -1, -1]), clicked_row=np.array([7, 2, -1, -1]),
        purchased=np.array([True, False, False, False]), price=np.array([30.0, 12.0, 0, 0]),
        terminated=np.array([False, True, False, False]),
        truncated=np.array([False, False, False, False]))
    bids = np.zeros(10)
    bids[7], bids[2] = 0.8, 0.3
    ads = np.array([[False, True, False], [False, False, False], [False, True, True],
                    [False, False, False]])
    comp = step_components(step, active=np.array([True, True, True, False]), bids=bids,
                           ads=ads, annoyance=np.array([0.0, 0.0, 2.0, 0.0]))
    np.testing.assert_allclose(comp.click, [1, 1, 0, 0])
    np.testing.assert_allclose(comp.purchase_value, [30, 0, 0, 0])
    np.testing.assert_allclose(comp.ad_revenue, [0.8, 0, 0, 0])
    np.testing.assert_allclose(comp.retention, [1, 0, 1, 0])
    w = RewardWeights(click=1.0, purchase_value=0.1, ad_revenue=5.0, retention=0.5)
    np.testing.assert_allclose(w.combine(comp), [1 + 3 + 4 + 0.5, 1, 0.5, 0])
    assert comp.as_dict(0) == {"click": 1.0, "purchase": 1.0, "purchase_value": 30.0,
                               "ad_revenue": 0.8, "retention": 1.0, "annoyance": 0.0}


@pytest.mark.parametrize(("build", "message"), [
    (lambda: RewardWeights(click=float("nan")), "reward weight 'click' must be finite"),
    (lambda: RewardWeights(ad_revenue="1"), "reward weight 'ad_revenue' must be a number"),
    (lambda: RewardWeights(click=0.0), "reward weights are all zero"),
    (lambda: RewardWeights.from_mapping({"clicks": 1}), r"unknown reward weight\(s\) \['clicks"),
    (lambda: RewardWeights.for_sim("revenue"), "unknown simulator reward 'revenue'"),
    (lambda: RewardFunction({"click": 1.0}, bids={"a": -1}), "bids\\['a'\\] must be finite"),
    (lambda: RewardFunction.from_config({"click": 1, "bid": 2}), "unknown reward config key"),
    (lambda: RewardWeights(margin=1.0).combine(None), "simulated steps have none"),
])
def test_bad_weights_are_named(build, message):
    with pytest.raises(ConfigError, match=message):
        build()
