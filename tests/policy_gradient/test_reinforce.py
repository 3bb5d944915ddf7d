"""REINFORCE: episode returns computed by ``update``, the top-K correction, exploration."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from agent.policy import make_policy
from agent.policy._pg import RequestBatch, discounted_returns, sample_slate, top_k_correction
from agent.policy.base import interaction_features, plackett_luce_propensities
from agent.policy.reinforce import item_advantages
from encoders.errors import ConfigError, PolicyError

sys.path.insert(0, str(Path(__file__).parent))
from _data import D, N, SlateBandit, record, unit_rows  # noqa: E402

RNG = np.random.default_rng(0)
S0, S1, S2 = unit_rows(RNG, 3, D)
CANDS = unit_rows(RNG, N, D)


# ---------------------------------------------------------------------------- returns


def test_discounted_returns_by_hand():
    # one 3-step episode, gamma 0.5: G2 = 2, G1 = 0 + 0.5 * 2 = 1, G0 = 1 + 0.5 * 1 = 1.5
    np.testing.assert_allclose(discounted_returns([1, 0, 2], [False, False, True], 0.5),
                               [1.5, 1.0, 2.0])
    # two episodes back to back: the second's rewards never leak into the first
    np.testing.assert_allclose(discounted_returns([1, 2, 3], [False, True, True], 0.5),
                               [2.0, 2.0, 3.0])
    # a truncated final record may add a tail value: 1 + 0.5 * 4
    np.testing.assert_allclose(discounted_returns([1.0], [True], 0.5, tail=[4.0]), [3.0])
    np.testing.assert_allclose(discounted_returns([1, 0, 2], [False, False, True], 0.0),
                               [1.0, 0.0, 2.0])


def test_discounted_returns_refuses_an_unfinished_episode():
    with pytest.raises(ConfigError, match="the last record is not done"):
        discounted_returns([1.0, 1.0], [True, False], 0.9)
    with pytest.raises(ConfigError, match=r"gamma must be in \[0, 1\]"):
        discounted_returns([1.0], [True], 1.5)


def _episode() -> list:
    """3 steps, k = 2: click+1 at step 0, nothing at step 1, click+2 on the second item."""
    return [record(S0, CANDS, [0, 1], [True, False], [1.0, 0.0], done=False),
            record(S1, CANDS, [2, 3], [False, False], [0.0, 0.0], done=False),
            record(S2, CANDS, [4, 5], [False, True], [0.0, 2.0], done=True)]


def test_per_item_returns_the_loss_uses():
    rb = RequestBatch.of(_episode(), interaction_features)
    returns = discounted_returns(rb.rewards.sum(axis=1), [False, False, True], 0.5)
    np.testing.assert_allclose(returns, [1.5, 1.0, 2.0])
    clicked = item_advantages(rb, returns, 0.5, credit="clicked", baseline="none",
                              normalize=False)
    # the clicked item carries its reward plus the discounted future; a step without a
    # click passes its future on to nobody
    np.testing.assert_allclose(clicked, [[1.5, 0.0], [0.0, 0.0], [0.0, 2.0]])
    slate = item_advantages(rb, returns, 0.5, credit="slate", baseline="none",
                            normalize=False)
    np.testing.assert_allclose(slate, [[1.5, 1.5], [1.0, 1.0], [2.0, 2.0]])
    centred = item_advantages(rb, returns, 0.5, credit="slate", baseline="mean",
                              normalize=True)
    expected = np.array([[1.5, 1.5], [1.0, 1.0], [2.0, 2.0]]) - 1.5
    np.testing.assert_allclose(centred, expected / expected.std())


def test_update_refuses_a_batch_that_ends_mid_episode():
    policy = make_policy("reinforce", dim=D, seed=0)
    version = policy.version
    with pytest.raises(ConfigError, match=r"reinforce: update takes whole episodes.*"
                                          r"batch\[1\] \(the last record\) is not done"):
        policy.update(_episode()[:2])
    assert policy.n_updates == 0 and policy.version == version
    policy.update(_episode())
    assert policy.n_updates == 1


def test_truncated_episode_is_cut_at_the_time_limit():
    episode = _episode()
    episode[-1].truncated = True
    episode[-1].next_state = S0
    policy = make_policy("reinforce", dim=D, seed=0)
    policy.update(episode)  # accepted: the return stops at the limit
    assert policy.n_updates == 1


def test_update_computes_the_reward_to_go_itself():
    """A click worth nothing now but leading to a rewarded step is reinforced iff gamma > 0."""
    def episode() -> list:
        return [record(S0, CANDS, [0, 1], [True, False], [0.0, 0.0], done=False),
                record(S1, CANDS, [2, 3], [True, False], [1.0, 0.0], done=True)]

    probs = {}
    for gamma in (0.0, 0.9):
        policy = make_policy("reinforce", dim=D, seed=0, gamma=gamma, baseline="none",
                             normalize=False, lr=0.05)
        before = policy.probs(S0, CANDS)[0]
        for _ in range(20):
            policy.update(episode())
        probs[gamma] = policy.probs(S0, CANDS)[0] - before
    # myopic, item 0's click earned nothing (its probability only moves through the shared
    # network); with gamma 0.9 it earns 0.9 x the next step's reward
    assert probs[0.9] > 0.2 and probs[0.9] > probs[0.0] + 0.2


# ---------------------------------------------------------------------------- correction


def test_top_k_correction_by_hand():
    w, lam = top_k_correction(np.array([0.5, 0.1]), np.array([0.25, 0.5]), k=2, cap=1.5)
    np.testing.assert_allclose(w, [1.5, 0.2])  # 0.5 / 0.25 = 2 capped at 1.5; 0.1 / 0.5
    np.testing.assert_allclose(lam, [1.0, 1.8])  # 2 (1 - 0.5); 2 (1 - 0.1)
    w1, lam1 = top_k_correction(np.array([0.3]), np.array([0.6]), k=1, cap=10.0)
    np.testing.assert_allclose([w1[0], lam1[0]], [0.5, 1.0])  # K = 1: plain IPS


def test_one_step_bandit_update_raises_the_rewarded_item():
    policy = make_policy("reinforce", dim=D, seed=0, lr=0.05)
    before = policy.probs(S0, CANDS)
    batch = [record(S0, CANDS, [j, (j + 1) % N], [j == 2, False],
                    [1.0 if j == 2 else 0.0, 0.0]) for j in range(N)]
    for _ in range(10):
        policy.update(batch)
    after = policy.probs(S0, CANDS)
    assert after[2] > before[2] + 0.2
    assert int(np.argmax(after)) == 2


def test_learns_from_a_uniform_loggers_episodes_off_policy():
    env = SlateBandit(seed=1)
    logger = make_policy("random")
    policy = make_policy("reinforce", dim=D, seed=0, lr=0.03)
    rng = np.random.default_rng(2)
    for _ in range(40):
        policy.update(env.episodes(logger, rng, 32))
    got = env.expected_return(policy, np.random.default_rng(3))
    uniform = env.expected_return(logger, np.random.default_rng(3))
    print(f"reinforce off-policy: {got:.3f} (uniform {uniform:.3f}, optimum {env.optimum():.3f})")
    # measured 0.70 of the optimum: the importance weight pi / beta fades for items the
    # policy already gives little mass, so one of two equally good items can be left out
    assert got >= 0.65 * env.optimum() and got > 1.5 * uniform
    for c in range(len(env.states)):  # the best item of every context leads the policy
        assert env.p[c, int(np.argmax(policy.probs(env.states[c], env.cands)))] == 0.9


def test_learns_on_policy_to_90_percent_of_the_optimum():
    env = SlateBandit(seed=0)
    policy = make_policy("reinforce", dim=D, seed=0, lr=0.03)
    rng = np.random.default_rng(2)
    for _ in range(60):
        policy.update(env.episodes(policy, rng, 32))
    got = env.expected_return(policy, np.random.default_rng(3))
    print(f"reinforce on-policy: {got:.3f} of optimum {env.optimum():.3f}")
    assert got >= 0.9 * env.optimum()


# ---------------------------------------------------------------------------- acting


def test_select_propensities_are_exact_plackett_luce():
    policy = make_policy("reinforce", dim=D, seed=0, temperature=0.5)
    rng = np.random.default_rng(0)
    for _ in range(5):
        slate = policy.select(S0, CANDS, 3, rng)
        logits = policy.score(S0, CANDS) / 0.5
        np.testing.assert_allclose(slate.propensities,
                                   plackett_luce_propensities(logits, slate.item_ids))
        np.testing.assert_allclose(slate.scores, policy.score(S0, CANDS)[slate.item_ids])
    rows = policy.batch_logits(np.stack([S0, S1]), np.stack([CANDS, CANDS[::-1]]), rng)
    np.testing.assert_allclose(rows[1], policy.score(S1, CANDS[::-1]) / 0.5)


def test_sample_slate_propensities_survive_far_apart_logits():
    logits = np.array([0.0, -800.0, -801.0, -1e4])
    order, props = sample_slate(logits, 3, np.random.default_rng(0))
    assert order.tolist() == [0, 1, 2]
    np.testing.assert_allclose(props, plackett_luce_propensities(logits, order))
    assert np.all(props > 0)


def test_temperature_is_the_public_exploration_knob():
    sharp = make_policy("reinforce", dim=D, seed=0, temperature=0.01, prior=1.0)
    flat = make_policy("reinforce", dim=D, seed=0, temperature=100.0, prior=1.0)
    assert sharp.probs(S0, CANDS).max() > 0.9
    assert flat.probs(S0, CANDS).max() < 1.0 / N + 0.01


@pytest.mark.parametrize(("options", "message"), [
    ({"gamma": 1.5}, r"gamma must be a number in \[0, 1\], got 1.5"),
    ({"credit": "all"}, "credit must be one of clicked, slate, got 'all'"),
    ({"baseline": "value"}, "baseline must be one of none, mean, got 'value'"),
    ({"normalize": 1}, "normalize must be true or false"),
    ({"prior": -1.0}, "prior must be a non-negative number"),
    ({"temperature": 0}, "temperature must be a positive number"),
])
def test_bad_hyperparameters_are_named(options, message):
    with pytest.raises(ConfigError, match=message):
        make_policy("reinforce", **options)


def test_prior_needs_the_shared_feature_space():
    with pytest.raises(ConfigError, match="prior=1.0 needs feature_space='shared'"):
        make_policy("reinforce", prior=1.0, feature_space="separate")


def test_separate_feature_space_learns_with_unequal_dimensions():
    rng = np.random.default_rng(0)
    state, cands = rng.normal(size=3), rng.normal(size=(N, 5))
    policy = make_policy("reinforce", feature_space="separate", lr=0.05)
    batch = [record(state, cands, [2, j], [True, False], [1.0, 0.0]) for j in (0, 1, 3)]
    before = policy.probs(state, cands)[2] if policy.state_dim else 1.0 / N
    for _ in range(10):
        policy.update(batch)
    assert policy.probs(state, cands)[2] > before + 0.2
    with pytest.raises(PolicyError, match="feature_space='shared' needs state and items"):
        make_policy("reinforce").select(state, cands, 2, rng)


@pytest.mark.parametrize("name", ["reinforce", "actor_critic"])
@pytest.mark.parametrize(("space", "d_u", "d_c"), [("shared", 7, 7), ("separate", 3, 5)])
def test_fast_scores_equal_the_network_on_the_features(name, space, d_u, d_c):
    """Acting splits the first layer by the feature layout; it must match the features."""
    import torch

    rng = np.random.default_rng(0)
    policy = make_policy(name, seed=1, feature_space=space)
    state, cands = rng.normal(size=d_u), rng.normal(size=(9, d_c))
    policy.select(state, cands, 2, rng)
    with torch.no_grad():
        ref = policy.net(torch.from_numpy(policy.features(state, cands))).squeeze(-1).numpy()
    np.testing.assert_allclose(policy.score(state, cands), ref, atol=1e-12)
    states, many = rng.normal(size=(4, d_u)), rng.normal(size=(4, 9, d_c))
    with torch.no_grad():
        ref = policy.net(torch.from_numpy(policy.features(states, many))).squeeze(-1).numpy()
    np.testing.assert_allclose(policy.batch_logits(states, many, rng), ref, atol=1e-12)
