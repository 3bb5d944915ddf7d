"""SimBatch / run_sessions: speed, oracle beats random, long-term effects, intents."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from shelfwise.sim import (
    SimBatch,
    SimConfig,
    oracle_policy,
    random_policy,
    run_sessions,
)


def welch_t(a: np.ndarray, b: np.ndarray) -> float:
    return float((a.mean() - b.mean()) / np.sqrt(a.var() / a.size + b.var() / b.size))


def test_run_sessions_5000_is_fast_and_deterministic(
    latent: pd.DataFrame, vectors: np.ndarray
) -> None:
    stats = run_sessions(
        random_policy(5), 5000, seed=0, k=5, latent=latent, product_vectors=vectors
    )
    print(f"\n5000 sessions, mean length {stats.lengths.mean():.1f}: {stats.seconds:.2f} s")
    assert stats.returns.shape == stats.lengths.shape == (5000,)
    assert stats.lengths.min() >= 1 and stats.lengths.max() <= SimConfig().max_steps
    np.testing.assert_array_equal(stats.returns, stats.clicks)  # reward="clicks"
    again = run_sessions(random_policy(5), 5000, seed=0, latent=latent, product_vectors=vectors)
    np.testing.assert_array_equal(stats.returns, again.returns)
    np.testing.assert_array_equal(stats.lengths, again.lengths)
    other = run_sessions(random_policy(5), 5000, seed=1, latent=latent, product_vectors=vectors)
    assert not np.array_equal(stats.returns, other.returns)


def test_oracle_beats_random(latent: pd.DataFrame, vectors: np.ndarray) -> None:
    sim = SimBatch(latent, vectors)
    rand = sim.run(random_policy(5), 2000, seed=3)
    oracle = sim.run(oracle_policy(sim, diverse=True), 2000, seed=3)
    print(f"\nreturn random {rand.returns.mean():.2f}, oracle {oracle.returns.mean():.2f}")
    assert oracle.returns.mean() > 2 * rand.returns.mean()
    assert welch_t(oracle.returns, rand.returns) > 10


def test_oracle_scores_match_batch_utilities(latent: pd.DataFrame, vectors: np.ndarray) -> None:
    sim = SimBatch(latent, vectors)
    sim.reset(4, np.random.default_rng(0))
    u = sim.oracle_utilities()
    for s in range(4):
        np.testing.assert_allclose(sim.oracle_scores(s, sim.candidate_ids[s]), u[s])


def test_myopic_click_maximiser_loses_to_quality_aware(
    latent: pd.DataFrame, vectors: np.ndarray
) -> None:
    """Long-term effect: maximising click utility favours clickbait (low quality), which drains
    the budget; weighing the latent quality gives longer sessions and a higher return."""
    sim = SimBatch(latent, vectors)
    myopic = sim.run(oracle_policy(sim, diverse=True), 2000, seed=5)
    aware = sim.run(oracle_policy(sim, diverse=True, quality=1.0), 2000, seed=5)
    print(
        f"\nmyopic return {myopic.returns.mean():.2f} length {myopic.lengths.mean():.2f}; "
        f"quality-aware return {aware.returns.mean():.2f} length {aware.lengths.mean():.2f}"
    )
    assert welch_t(aware.lengths, myopic.lengths) > 4
    assert welch_t(aware.returns, myopic.returns) > 4


def test_myopic_wins_the_first_step(latent: pd.DataFrame, vectors: np.ndarray) -> None:
    """...although the myopic slate has the higher immediate click utility (so myopia is the
    cause), and its items have lower latent quality."""
    sim = SimBatch(latent, vectors)
    sim.reset(500, np.random.default_rng(0))
    u = sim.oracle_utilities()
    rows = np.arange(500)[:, None]
    rng = np.random.default_rng(0)
    mine = oracle_policy(sim, diverse=True)(sim.states, sim.candidates, rng)
    aware = oracle_policy(sim, diverse=True, quality=1.0)(sim.states, sim.candidates, rng)
    assert u[rows, mine].sum(axis=1).mean() > u[rows, aware].sum(axis=1).mean()
    q = sim.quality[sim.candidate_ids]
    assert q[rows, mine].mean() < q[rows, aware].mean()


def test_policy_knowing_true_tastes_beats_random(
    latent: pd.DataFrame, vectors: np.ndarray
) -> None:
    """Relevance pays: a myopic policy reading the true tastes beats random by a wide margin,
    and so does plain cosine to the state (the seeded history reveals tastes)."""
    sim = SimBatch(latent, vectors)
    rand = sim.run(random_policy(5), 2000, seed=4)
    myopic = sim.run(oracle_policy(sim), 2000, seed=4)

    def cosine_top(states: np.ndarray, cands: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return np.argsort(-np.einsum("bnd,bd->bn", cands, states), axis=1)[:, :5]

    relevant = sim.run(cosine_top, 2000, seed=4)
    print(f"\nreturn random {rand.returns.mean():.2f}, true-taste top-k "
          f"{myopic.returns.mean():.2f}, cosine top-k {relevant.returns.mean():.2f}")
    assert myopic.returns.mean() > 1.3 * rand.returns.mean()
    assert welch_t(myopic.returns, rand.returns) > 10
    assert welch_t(relevant.returns, rand.returns) > 3


def test_quality_changes_the_budget(latent: pd.DataFrame, vectors: np.ndarray) -> None:
    """A click on a high-quality item leaves more budget than one on clickbait."""
    cfg = SimConfig(drift_rate=0.0, boredom_weight=0.0, click_refund=0.0, no_click_cost=0.0)
    sim = SimBatch(latent, vectors, cfg)
    sim.reset(300, np.random.default_rng(0))
    res = sim.step(np.tile(np.arange(5), (300, 1)), np.random.default_rng(1))
    clicked = np.flatnonzero(res.clicked_row >= 0)
    expected = cfg.budget - cfg.step_cost + cfg.quality_budget * sim.quality[
        res.clicked_row[clicked]]
    np.testing.assert_allclose(sim.budget[clicked], expected)
    assert sim.quality.std() > 0.2


def test_seed_history_makes_the_first_state_informative(
    latent: pd.DataFrame, vectors: np.ndarray
) -> None:
    sim = SimBatch(latent, vectors, SimConfig(intent_share=0.0))
    sim.reset(200, np.random.default_rng(0))
    assert not np.allclose(sim.states, sim.catalog.cold_vector[None, :])
    cold = SimBatch(latent, vectors, SimConfig(intent_share=0.0, seed_history=0))
    cold.reset(200, np.random.default_rng(0))
    np.testing.assert_allclose(cold.states, np.broadcast_to(cold.catalog.cold_vector,
                                                            cold.states.shape), atol=1e-6)


def test_intent_sessions_click_intent_category(
    latent: pd.DataFrame, vectors: np.ndarray, query_encoder: Callable[[list[str]], np.ndarray]
) -> None:
    sim = SimBatch(latent, vectors, SimConfig(intent_share=0.5), query_encoder=query_encoder)
    stats = sim.run(random_policy(5), 3000, seed=2)
    share_cat = latent["category"].value_counts(normalize=True).max()
    with_intent = stats.has_intent & (stats.clicks > 0)
    rate = stats.intent_clicks[with_intent].sum() / stats.clicks[with_intent].sum()
    print(
        f"\nintent sessions: {rate:.2f} of clicks in the intent category "
        f"(largest category share {share_cat:.2f})"
    )
    assert 0.3 < stats.has_intent.mean() < 0.7
    assert rate > 2 * share_cat
    # the query vector steers retrieval: cold-start candidates are mostly in the intent category
    sim.reset(300, np.random.default_rng(1))
    sessions = np.flatnonzero(sim.shoppers.has_intent)
    codes = sim.catalog.codes[0][sim.candidate_ids[sessions]]
    hit = (codes == sim.shoppers.intent_category[sessions][:, None]).mean()
    assert hit > 0.4
    assert all(t is not None for t in np.array(sim.shoppers.intent_text, dtype=object)[sessions])


def test_purchase_value_reward(latent: pd.DataFrame, vectors: np.ndarray) -> None:
    cfg = SimConfig(reward="purchase_value")
    stats = run_sessions(
        random_policy(5), 1000, seed=0, latent=latent, product_vectors=vectors, config=cfg
    )
    np.testing.assert_allclose(stats.returns, stats.purchase_value)
    assert 0 < stats.purchases.sum() < stats.clicks.sum()


@pytest.mark.parametrize("drift_rate", [0.0, 0.5])
def test_drift_moves_taste_toward_clicks(
    latent: pd.DataFrame, vectors: np.ndarray, drift_rate: float
) -> None:
    sim = SimBatch(latent, vectors, SimConfig(drift_rate=drift_rate, intent_share=0.0))
    sim.reset(200, np.random.default_rng(0))
    before = [t.copy() for t in sim.shoppers.taste]
    res = sim.step(np.tile(np.arange(5), (200, 1)), np.random.default_rng(1))
    clicked = np.flatnonzero(res.clicked_row >= 0)
    cat_codes = sim.catalog.codes[0][res.clicked_row[clicked]]
    delta = sim.shoppers.taste[0][clicked, cat_codes] - before[0][clicked, cat_codes]
    if drift_rate == 0.0:
        np.testing.assert_array_equal(delta, 0.0)
    else:
        assert (delta[before[0][clicked, cat_codes] < 1.0] > 0).all()


def test_policy_sees_only_running_sessions(latent: pd.DataFrame, vectors: np.ndarray) -> None:
    sim = SimBatch(latent, vectors, SimConfig(max_steps=6))
    seen: list[int] = []
    base = random_policy(5)

    def policy(states: np.ndarray, candidates: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        seen.append(states.shape[0])
        assert candidates.shape == (states.shape[0], 50, 16)
        np.testing.assert_array_equal(states, sim.states[sim.policy_rows])
        return base(states, candidates, rng)

    stats = sim.run(policy, 300, seed=0)
    assert seen[0] == 300 and seen == sorted(seen, reverse=True)
    assert sum(seen) == stats.lengths.sum()


def test_boredom_lowers_utility_of_repeated_pair(latent: pd.DataFrame, vectors: np.ndarray) -> None:
    sim = SimBatch(latent, vectors, SimConfig(drift_rate=0.0))
    sim.reset(1, np.random.default_rng(0))
    rows = sim.candidate_ids[0].copy()
    before = sim.oracle_scores(0, rows)
    sim.step(np.arange(5)[None], np.random.default_rng(0))
    shown_pairs = set(sim.catalog.pair[rows[:5]].tolist())
    after = sim.oracle_scores(0, rows)
    hit = np.isin(sim.catalog.pair[rows], list(shown_pairs))
    assert (after[hit] < before[hit]).all()
    np.testing.assert_allclose(after[~hit], before[~hit])
