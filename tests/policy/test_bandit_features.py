"""The linear bandits' feature model: shared weights on state-item agreement, not on content."""

from __future__ import annotations

import numpy as np
import pytest

from agent.policy import Feedback, Slate, make_policy
from agent.policy.base import similarity_features
from shelfwise.errors import ConfigError, PolicyError


def _unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.normal(size=(n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_similarity_features_layout_and_batching():
    rng = np.random.default_rng(0)
    s, c = _unit(rng, 1, 6)[0], _unit(rng, 4, 6)
    extras = rng.normal(size=(4, 2))
    x = similarity_features(s, np.concatenate([c, extras], axis=1), n_extra=2)
    assert x.shape == (4, 6 + 2 + 2)
    np.testing.assert_allclose(x[:, :6], c * s)
    np.testing.assert_allclose(x[:, 6], c @ s, atol=1e-12)  # unit vectors: cos = dot
    np.testing.assert_allclose(x[:, 7:9], extras)
    np.testing.assert_allclose(x[:, 9], 1.0)
    states, cands = _unit(rng, 3, 6), _unit(rng, 12, 6).reshape(3, 4, 6)
    batched = similarity_features(states, cands)
    for i in range(3):
        np.testing.assert_allclose(batched[i], similarity_features(states[i], cands[i]))


@pytest.mark.parametrize("name", ["linucb", "lints"])
def test_no_item_content_column_in_the_shared_model(name):
    """An item direction learned from one state does not move an orthogonal state's scores."""
    d = 6
    policy = make_policy(name, dim=d, seed=0)
    e = np.eye(d)
    clicker = e[0] + e[1]  # a shopper whose state spans dims 0 and 1
    cands = np.stack([e[1], e[2], e[3]])
    slate = Slate(item_ids=np.array([0, 1]), scores=np.zeros(2), propensities=np.ones(2),
                  policy=name, version="x")
    before = policy.score(e[4] + e[5], cands)  # another shopper, state on dims 4 and 5
    for _ in range(20):  # the clicker keeps clicking item 0 (dim 1), never item 1
        policy.update([Feedback(state=clicker, candidates=cands, slate=slate,
                                clicks=np.array([True, False]), rewards=np.array([1.0, 0.0]))])
    moved = policy.score(e[4] + e[5], cands) - before
    assert np.ptp(moved) < 1e-12  # at most a common shift (the bias): the same order
    assert policy.score(clicker, cands)[0] > policy.score(clicker, cands)[1]


def test_extra_features_get_their_own_weight():
    rng = np.random.default_rng(1)
    d, m = 5, 2
    policy = make_policy("linucb", dim=d, seed=0, extra_features=m)
    assert (policy.state_dim, policy.cand_dim) == (d, d + m)
    for _ in range(60):  # reward = the first extra column (a source score), nothing else
        cands = np.concatenate([_unit(rng, 8, d), rng.random((8, m))], axis=1)
        state = _unit(rng, 1, d)[0]
        slate = policy.select(state, cands, 3, rng)
        rewards = (cands[slate.item_ids, d] > 0.5).astype(float)
        policy.update([Feedback(state=state, candidates=cands, slate=slate,
                                clicks=rewards > 0, rewards=rewards)])
    w = policy.theta
    assert w[d + 1] > 0.2 and abs(w[d + 2]) < w[d + 1]  # weight of extra 0 vs extra 1


def test_extra_features_layout_errors():
    with pytest.raises(ConfigError, match="extra_features must be an int"):
        make_policy("linucb", extra_features=-1)
    policy = make_policy("lints", extra_features=2)
    with pytest.raises(PolicyError, match="state's 4 item columns \\+ 2 extras"):
        policy.select(np.ones(4), np.ones((3, 9)), 2, np.random.default_rng(0))
    assert policy.state_dim is None  # nothing was half-built


def test_lints_logits_outside_select_use_the_given_rng():
    rng = np.random.default_rng(0)
    policy = make_policy("lints", dim=4, seed=0, n_posterior=3)
    s, c = _unit(rng, 1, 4)[0], _unit(rng, 5, 4)
    a = policy.logits(s, c, np.random.default_rng(7))
    assert a.shape == (3, 5)
    np.testing.assert_array_equal(a, policy.logits(s, c, np.random.default_rng(7)))
    assert make_policy("linucb", dim=4).logits(s, c, rng).shape == (1, 5)
