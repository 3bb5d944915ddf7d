import numpy as np
import pytest

from shelfwise.errors import ConfigError
from shelfwise.evaluate import (
    ESTIMATORS,
    OPEInput,
    SyntheticSlateBandit,
    estimate,
    parse_estimators,
    plackett_luce_marginals,
)


@pytest.fixture(scope="module")
def bandit():
    return SyntheticSlateBandit(n_actions=15, k=3, dim=4, seed=0)


@pytest.fixture(scope="module")
def log(bandit):
    return bandit.sample_log(4000, np.random.default_rng(7))


@pytest.mark.parametrize("quality, temperature", [(0.5, 1.0), (1.0, 0.5), (-0.5, 1.0)])
def test_estimators_recover_known_value(bandit, log, quality, temperature):
    truth = bandit.true_value(quality, temperature, n_contexts=40_000)
    data = bandit.ope_input(log, quality, temperature)
    res = estimate(data, n_bootstrap=300, seed=1)
    for name in ("ips", "snips", "dr"):
        assert res[name].covers(truth), (name, res[name], truth)
        assert res[name].relative_error(truth) < 0.08, (name, res[name], truth)
    # DM's interval ignores model error, so only its error is checked
    assert res["dm"].relative_error(truth) < 0.08
    assert all(r.n == 4000 for r in res.values())


def test_on_policy_ips_equals_logged_mean(bandit, log):
    data = bandit.ope_input(log, 0.0, 1.0, with_model=False)
    res = estimate(data, "ips,snips", n_bootstrap=100)
    np.testing.assert_allclose(res["ips"].value, log.rewards.sum(axis=1).mean())
    np.testing.assert_allclose(res["snips"].value, log.rewards.sum(axis=1).mean(), rtol=1e-6)


def test_dr_corrects_a_bad_reward_model(bandit, log):
    truth = bandit.true_value(1.0, 0.5, n_contexts=40_000)
    data = bandit.ope_input(log, 1.0, 0.5, with_model=False)
    data = OPEInput(data.rewards, data.behaviour_propensities, actions=data.actions,
                    action_dist=data.action_dist, q_hat=np.full_like(data.action_dist, 0.1))
    res = estimate(data, "dm,dr", n_bootstrap=200)
    assert res["dm"].relative_error(truth) > 0.5
    assert res["dr"].covers(truth) and res["dr"].relative_error(truth) < 0.08


def test_bootstrap_is_seeded(bandit, log):
    data = bandit.ope_input(log, 0.5, 1.0, with_model=False)
    a = estimate(data, "ips", n_bootstrap=200, seed=3)["ips"]
    b = estimate(data, "ips", n_bootstrap=200, seed=3)["ips"]
    c = estimate(data, "ips", n_bootstrap=200, seed=4)["ips"]
    assert a == b and a.ci_low < a.value < a.ci_high and c.ci_low != a.ci_low


def test_plackett_luce_marginals_match_monte_carlo():
    probs = np.random.default_rng(0).dirichlet(np.ones(7), size=3)
    exact = plackett_luce_marginals(probs, 3)
    mc = plackett_luce_marginals(probs, 4, n_samples=40_000, rng=np.random.default_rng(1))
    np.testing.assert_allclose(exact.sum(axis=1), 1.0)
    np.testing.assert_allclose(exact, mc[:, :, :3], atol=0.015)


def test_mask_for_ragged_slates():
    r = np.array([[1.0, 0.0], [1.0, 9.0]])
    data = OPEInput(r, np.array([[0.5, 0.5], [0.5, 0.0]]), eval_probs=np.full((2, 2), 0.5),
                    mask=np.array([[True, True], [True, False]]))
    res = estimate(data, "ips,snips", n_bootstrap=50)
    assert res["ips"].value == pytest.approx(1.0)
    assert res["snips"].value == pytest.approx(1.0)


R = np.zeros((3, 2))
P = np.full((3, 2), 0.5)


@pytest.mark.parametrize("kwargs, match", [
    (dict(rewards=np.zeros((0, 2)), behaviour_propensities=np.zeros((0, 2))),
     "no logged rounds"),
    (dict(rewards=R, behaviour_propensities=np.zeros((3, 2)), eval_probs=P),
     r"behaviour_propensities must be in \(0, 1\]; round 0 position 0 has 0.0"),
    (dict(rewards=R, behaviour_propensities=P[:2], eval_probs=P),
     r"behaviour_propensities has shape \(2, 2\) but rewards implies \(3, 2\)"),
    (dict(rewards=R, behaviour_propensities=P, eval_probs=P + 1), r"eval_probs must be in"),
    (dict(rewards=np.zeros(3), behaviour_propensities=P), "rewards must have 2 dimensions"),
    (dict(rewards=R, behaviour_propensities=P, action_dist=np.ones((3, 4, 2))),
     "action_dist sums to more than 1"),
    (dict(rewards=R, behaviour_propensities=P, actions=np.full((3, 2), 5),
          action_dist=np.full((3, 4, 2), 0.25)), "actions has indices >= n_actions=4"),
    (dict(rewards=R * np.nan, behaviour_propensities=P), "rewards contains NaN"),
])
def test_bad_inputs(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        OPEInput(**kwargs)


def test_missing_pieces_and_unknown_estimators():
    data = OPEInput(R, P, eval_probs=P)
    with pytest.raises(ConfigError, match="the dm estimator needs action_dist and q_hat"):
        estimate(data, "dm")
    with pytest.raises(ConfigError, match="unknown estimator 'ipw'; choose from: ips, snips, "
                       "dm, dr"):
        parse_estimators("ips,ipw")
    with pytest.raises(ConfigError, match="no estimators given"):
        parse_estimators(" , ")
    assert parse_estimators(["DR", "ips", "dr"]) == ["dr", "ips"]
    assert set(ESTIMATORS) == {"ips", "snips", "dm", "dr", "pi"}
