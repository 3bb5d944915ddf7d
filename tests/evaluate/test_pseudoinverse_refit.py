"""The pseudo-inverse slate estimator and DM/DR intervals that refit the reward model."""

import numpy as np
import pytest

from shelfwise.errors import ConfigError
from shelfwise.evaluate import OPEInput, SyntheticSlateBandit, estimate
from shelfwise.evaluate.pseudoinverse import (
    plackett_luce_pairwise,
    slate_weights,
    uniform_pairwise,
)
from shelfwise.evaluate.reward_model import ModelRefit, cross_fit_q_hat
from shelfwise.evaluate.slates import plackett_luce_marginals


def _monte_carlo_pairs(p: np.ndarray, k: int, n: int, seed: int) -> np.ndarray:
    a = p.shape[0]
    rng = np.random.default_rng(seed)
    g = np.log(p) - np.log(-np.log(rng.random((n, a))))
    top = np.argsort(-g, axis=1)[:, :k]
    ind = np.zeros((n, k * a))
    np.put_along_axis(ind, top + np.arange(k) * a, 1.0, axis=1)
    return ind.T @ ind / n


@pytest.mark.parametrize("k", [1, 2, 3])
def test_plackett_luce_pairs_match_sampling(k):
    p = np.array([0.4, 0.25, 0.15, 0.12, 0.08])
    exact = plackett_luce_pairwise(p, k)[0]
    np.testing.assert_allclose(exact, exact.T, atol=1e-12)
    # the diagonal holds the position-wise marginals
    np.testing.assert_allclose(np.diagonal(exact).reshape(k, 5).T,
                               plackett_luce_marginals(p[None], k)[0], atol=1e-12)
    sampled = _monte_carlo_pairs(p, k, 300_000, seed=1)
    assert np.abs(exact - sampled).max() < 4e-3


def test_uniform_pairs_by_hand():
    g = uniform_pairwise(3, 2)
    # P(item 0 at position 0) = 1/3; P(item 0 first and item 1 second) = 1/6; never both 0
    assert g[0, 0] == pytest.approx(1 / 3)
    assert g[0, 3 + 1] == pytest.approx(1 / 6)
    assert g[0, 3 + 0] == 0.0 and g[0, 1] == 0.0
    assert g.sum() == pytest.approx(4.0)  # k^2 position pairs, each a distribution


def test_single_position_pi_is_ips():
    # k = 1: Gamma = diag(mu), so the PI weight is pi(a) / mu(a), the IPS weight
    mu = np.array([0.5, 0.3, 0.2])
    pi = np.array([0.1, 0.3, 0.6])
    actions = np.array([[0], [2], [1], [2]])
    rewards = np.array([[1.0], [1.0], [0.0], [1.0]])
    dist = np.tile(pi[None, :, None], (4, 1, 1))
    w = slate_weights(np.diag(mu), dist, actions)
    np.testing.assert_allclose(w, pi[actions[:, 0]] / mu[actions[:, 0]])
    data = OPEInput(rewards, mu[actions], actions=actions, action_dist=dist,
                    behaviour_pairwise=np.diag(mu))
    res = estimate(data, "ips,pi", n_bootstrap=50)
    assert res["pi"].value == pytest.approx(res["ips"].value)


@pytest.fixture(scope="module")
def bandit():
    return SyntheticSlateBandit(n_actions=8, k=3, dim=3, seed=2)


@pytest.fixture(scope="module")
def log(bandit):
    return bandit.sample_log(3000, np.random.default_rng(5))


def test_pi_recovers_a_known_value(bandit, log):
    truth = bandit.true_value(1.0, 0.5, n_contexts=40_000)
    data = bandit.ope_input(log, 1.0, 0.5, with_model=False,
                            pairwise=bandit.behaviour_pairwise(log))
    res = estimate(data, "pi", n_bootstrap=300, seed=0)["pi"]
    assert res.covers(truth), (res, truth)
    assert res.relative_error(truth) < 0.1


def test_refit_intervals_hold_the_models_error(bandit, log):
    truth = bandit.true_value(1.0, 0.5, n_contexts=40_000)
    q = cross_fit_q_hat(bandit.featurize(log), log.rewards, log.actions, bandit.n_actions,
                        kind="logistic", n_folds=2)
    refit = bandit.model_refit(log, n_refits=20, seed=0)
    fixed = estimate(bandit.ope_input(log, 1.0, 0.5, q_hat=q), "dm,dr", n_bootstrap=200)
    refitted = estimate(bandit.ope_input(log, 1.0, 0.5, q_hat=q, q_refit=refit), "dm,dr",
                        n_bootstrap=200)
    for name in ("dm", "dr"):
        assert refitted[name].value == pytest.approx(fixed[name].value)  # same point estimate
    width = {k: (v.ci_high - v.ci_low) for k, v in refitted.items()}
    assert width["dm"] > 2 * (fixed["dm"].ci_high - fixed["dm"].ci_low)
    assert refitted["dm"].covers(truth) and refitted["dr"].covers(truth)
    # draws are cached: a second policy on the same log refits nothing
    first = refit.draw(0)
    assert refit.draw(0) is first and len(refit.draws()) == 20


def test_errors_are_named(bandit, log):
    data = bandit.ope_input(log, 0.5, with_model=False)
    with pytest.raises(ConfigError, match="pi estimator needs behaviour_pairwise"):
        estimate(data, "pi")
    with pytest.raises(ConfigError, match="behaviour_pairwise must be"):
        OPEInput(log.rewards, log.propensities, actions=log.actions,
                 action_dist=data.action_dist, behaviour_pairwise=np.zeros((3, 4)))
    with pytest.raises(ConfigError, match="n_refits must be an int >= 10"):
        ModelRefit(bandit.featurize(log), log.rewards, log.actions, 8, n_refits=3)
    with pytest.raises(ConfigError, match="action_dist implies k \\* n_actions = 24"):
        slate_weights(np.eye(5), data.action_dist, log.actions)
