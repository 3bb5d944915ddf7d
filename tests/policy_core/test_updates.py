"""Every public ``update`` is right when called directly: numbers checked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from agent.policy import Feedback, Slate, load_policy, make_policy
from agent.policy.base import interaction_features
from encoders.errors import ConfigError


def _fb(state, cands, ids, clicks, rewards, *, next_state=None, done=True, truncated=False,
        next_candidates=None) -> Feedback:
    ids = np.asarray(ids, dtype=np.int64)
    slate = Slate(item_ids=ids, scores=np.zeros(len(ids)), propensities=np.full(len(ids), 0.5),
                  policy="logger", version="v")
    return Feedback(state=np.asarray(state, float), candidates=np.asarray(cands, float),
                    slate=slate, clicks=np.asarray(clicks, bool),
                    rewards=np.asarray(rewards, float), next_state=next_state,
                    next_candidates=next_candidates, done=done, truncated=truncated)


S = np.array([1.0, 0.0])
C = np.array([[1.0, 0.0], [0.0, 1.0]])  # features [s*c, cos, 1]: [1,0,1,1] and [0,0,0,1]
BATCH = [_fb(S, C, [0], [True], [1.0]), _fb(S, C, [1], [False], [0.0])]


@pytest.mark.parametrize("name", ["linucb", "lints"])
def test_ridge_regression_by_hand(name):
    # A = I + x1 x1' + x2 x2' = [[2,0,1,1],[0,1,0,0],[1,0,2,1],[1,0,1,3]], b = [1,0,1,1];
    # A theta = b with theta_0 = theta_2 = a: 3a + d = 1, 2a + 3d = 1 -> a = 2/7, d = 1/7
    policy = make_policy(name, dim=2, prior_cosine=0.0, ridge=1.0, reward_scale=1.0)
    policy.update(BATCH)
    np.testing.assert_allclose(policy.A, [[2, 0, 1, 1], [0, 1, 0, 0], [1, 0, 2, 1],
                                          [1, 0, 1, 3]])
    np.testing.assert_allclose(policy.theta, [2 / 7, 0, 2 / 7, 1 / 7], atol=1e-12)


def test_ridge_shrinks_toward_the_cosine_prior_by_hand():
    # prior 1 on cos: A theta = b + e_cos = [1,0,2,1] -> theta = [0,0,1,0]: the prior
    # alone explains both rewards, so the data leave it where it was
    policy = make_policy("linucb", dim=2, prior_cosine=1.0, ridge=1.0, reward_scale=1.0)
    policy.update(BATCH)
    np.testing.assert_allclose(policy.theta, [0, 0, 1, 0], atol=1e-12)


def test_cascade_ignores_items_below_the_last_click():
    policy = make_policy("linucb", dim=2, prior_cosine=0.0, cascade=True, reward_scale=1.0)
    policy.update([_fb(S, C, [0, 1], [True, False], [1.0, 0.0])])
    # only x1 = [1,0,1,1] counted: A = I + x1 x1'
    np.testing.assert_allclose(policy.A, np.eye(4) + np.outer([1, 0, 1, 1], [1, 0, 1, 1]))


def _log(rng: np.random.Generator, n_records: int, scale: float) -> list[Feedback]:
    out = []
    for _ in range(n_records):
        s = rng.normal(size=4)
        c = rng.normal(size=(6, 4))
        ids = rng.permutation(6)[:3]
        clicks = rng.random(3) < 0.4
        value = rng.uniform(1, 5, size=3)  # purchase-like values
        out.append(_fb(s, c, ids, clicks, np.where(clicks, value, 0.0) * scale))
    return out


@pytest.mark.parametrize("name", ["linucb", "lints"])
def test_rewards_x1000_train_the_same_policy(name):
    a = make_policy(name, dim=4, seed=0)
    b = make_policy(name, dim=4, seed=0)
    for step in range(5):
        a.update(_log(np.random.default_rng(step), 10, 1.0))
        b.update(_log(np.random.default_rng(step), 10, 1000.0))
    np.testing.assert_allclose(a.theta, b.theta, rtol=1e-9, atol=1e-12)
    rng = np.random.default_rng(9)
    for _ in range(10):
        s, c = rng.normal(size=4), rng.normal(size=(8, 4))
        sa = a.select(s, c, 3, np.random.default_rng(1))
        sb = b.select(s, c, 3, np.random.default_rng(1))
        np.testing.assert_array_equal(sa.item_ids, sb.item_ids)
        np.testing.assert_allclose(sa.propensities, sb.propensities, rtol=1e-9)
    assert b.rewards.scale == pytest.approx(1000 * a.rewards.scale)


def test_fixed_reward_scale_is_raw_units():
    raw = make_policy("linucb", dim=4, reward_scale=1.0)
    raw.update(_log(np.random.default_rng(0), 10, 1000.0))
    auto = make_policy("linucb", dim=4)
    auto.update(_log(np.random.default_rng(0), 10, 1000.0))
    assert np.abs(raw.theta).max() > 50 * np.abs(auto.theta).max()


def test_reward_scale_is_saved(tmp_path):
    policy = make_policy("linucb", dim=4)
    policy.update(_log(np.random.default_rng(0), 10, 7.0))
    loaded = load_policy(policy.save(tmp_path / "p"))
    assert loaded.rewards.scale == pytest.approx(policy.rewards.scale)
    np.testing.assert_allclose(loaded.theta, policy.theta)


def test_bad_reward_scale_is_refused():
    for bad in (0, -1.0, "big", float("nan"), True):
        with pytest.raises(ConfigError, match="reward_scale must be 'auto' or a positive"):
            make_policy("linucb", reward_scale=bad)


# ---------------------------------------------------------------------------- SlateQ


def _slateq(**kw):
    return make_policy("slateq", dim=2, seed=0, gamma=0.5, reward_scale=1.0, **kw)


def _target_value(policy, state, cands, k):
    """V'(s') by hand: top-k by v Q' under the target network, sum v Q' / (1 + sum v)."""
    import torch

    with torch.no_grad():
        q = policy.target_net(torch.from_numpy(interaction_features(state, cands)))
    q = q.squeeze(-1).numpy()
    cos = cands @ state / (np.linalg.norm(cands, axis=1) * np.linalg.norm(state))
    v = np.exp(2.0 * cos)  # the default cosine choice model, beta 2, no-click weight 1
    top = np.argsort(-(v * q))[:k]
    return (v[top] * q[top]).sum() / (1.0 + v[top].sum())


def test_slateq_td_target_by_hand():
    policy = _slateq()
    nxt_s, nxt_c = np.array([0.6, 0.8]), np.array([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]])
    fb = _fb(S, C, [0, 1], [True, False], [2.0, 0.0], next_state=nxt_s,
             next_candidates=nxt_c, done=False)
    x, y = policy.td_targets([fb])
    assert x.shape[0] == 1  # only the clicked item is regressed
    np.testing.assert_allclose(x[0], interaction_features(S, C[[0]])[0])
    assert y[0] == pytest.approx(2.0 + 0.5 * _target_value(policy, nxt_s, nxt_c, 2))


def test_slateq_terminal_and_truncated_targets():
    policy = _slateq()
    nxt = np.array([0.6, 0.8])
    left = _fb(S, C, [0], [True], [2.0], next_state=nxt, done=True)
    assert policy.td_targets([left])[1][0] == 2.0  # the shopper left: no future
    cut = _fb(S, C, [0], [True], [2.0], next_state=nxt, done=True, truncated=True)
    assert policy.td_targets([cut])[1][0] == pytest.approx(
        2.0 + 0.5 * _target_value(policy, nxt, C, 1))  # a time limit: bootstrap
    for fb, why in ((_fb(S, C, [0], [True], [2.0], done=True, truncated=True), "truncated"),
                    (_fb(S, C, [0], [True], [2.0], done=False), "not done")):
        with pytest.raises(ConfigError, match=rf"batch\[0\] is {why} but has no next_state"):
            policy.update([fb])
    assert policy.n_updates == 0


def test_slateq_update_fits_its_targets():
    policy = make_policy("slateq", dim=2, seed=0, gamma=0.0, reward_scale=1.0, lr=0.01,
                         grad_steps=400)
    policy.update([_fb(S, C, [0], [True], [3.0]), _fb(S, C, [1], [True], [1.0])])
    np.testing.assert_allclose(policy.q_values(S, C), [3.0, 1.0], atol=0.05)


def test_slateq_reward_scale_auto_divides_rewards():
    policy = make_policy("slateq", dim=2, seed=0, gamma=0.0)
    policy.rewards.observe(np.array([4.0, 0.0, 2.0]))  # mean non-zero |r| = 3
    _, y = policy.td_targets([_fb(S, C, [0], [True], [6.0])])
    assert y[0] == pytest.approx(2.0)


def test_item_features_learn_a_quality_direction_shared_by_everyone():
    rng = np.random.default_rng(0)
    d = 4
    quality = np.array([0.0, 0.0, 1.0, 0.0])
    policy = make_policy("linucb", dim=d, seed=0, item_features=True, prior_cosine=0.0)
    assert policy.theta.shape == (d + 2 + d,)  # [s * c, cos, c, 1]
    for _ in range(20):
        batch = []
        for _ in range(10):
            s, c = rng.normal(size=d), rng.normal(size=(6, d))
            ids = rng.permutation(6)[:3]
            r = (c[ids] @ quality > 0.5).astype(float)  # good for every shopper
            batch.append(_fb(s, c, ids, r > 0, r))
        policy.update(batch)
    item_block = policy.theta[d + 1:2 * d + 1]
    assert int(np.argmax(item_block)) == 2
    assert item_block[2] > 3 * np.abs(item_block[[0, 1, 3]]).max()
    with pytest.raises(ConfigError, match="item_features must be a bool"):
        make_policy("linucb", item_features="yes")


@pytest.mark.parametrize("space", ["shared", "separate"])
def test_slateq_numpy_values_equal_the_torch_network(space):
    import torch

    extra = {"choice_model": "uniform"} if space == "separate" else {}
    policy = make_policy("slateq", dim=3, seed=0, feature_space=space, **extra)
    rng = np.random.default_rng(0)
    s, c = rng.normal(size=3), rng.normal(size=(5, 3))
    policy.update([_fb(s, c, [0, 1], [True, False], [1.0, 0.0], next_state=s, done=False)])
    with torch.no_grad():
        ref = policy.q_net(torch.from_numpy(interaction_features(s, c, space))).squeeze(-1)
    np.testing.assert_allclose(policy.q_values(s, c), ref.numpy(), rtol=1e-10, atol=1e-12)
