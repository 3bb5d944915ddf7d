"""The feature model is an explicit setting: shared embedding space or separate spaces."""

from __future__ import annotations

import json

import numpy as np
import pytest

from agent.policy import load_policy, make_policy
from agent.policy.base import (
    cosine,
    feature_dim,
    interaction_features,
    similarity_features,
)
from encoders.errors import ConfigError, PolicyError

FEATURED = ["linucb", "lints", "slateq"]
SEPARATE = {"slateq": {"choice_model": "uniform"}}  # the cosine choice model needs one space


def test_shared_features_by_hand():
    s = np.array([1.0, 0.0])
    c = np.array([[2.0, 0.0], [0.0, 3.0]])
    x = interaction_features(s, c)
    np.testing.assert_allclose(x, [[2, 0, 2, 0, 1, 1], [0, 0, 0, 3, 0, 1]], atol=1e-9)
    assert feature_dim(2, 2) == 6


def test_separate_features_by_hand_even_with_equal_dims():
    s = np.array([1.0, 2.0])
    c = np.array([[3.0, 5.0]])
    # [vec(s ⊗ c) u-major, c, 1]
    np.testing.assert_allclose(interaction_features(s, c, "separate"),
                               [[3, 5, 6, 10, 3, 5, 1]])
    assert feature_dim(2, 2, "separate") == 7


def test_features_broadcast_over_requests():
    rng = np.random.default_rng(0)
    states, cands = rng.normal(size=(3, 4)), rng.normal(size=(3, 5, 4))
    for space in ("shared", "separate"):
        batched = interaction_features(states, cands, space)
        for i in range(3):
            np.testing.assert_allclose(batched[i], interaction_features(states[i], cands[i],
                                                                        space))
    np.testing.assert_allclose(cosine(states, cands)[1], cosine(states[1], cands[1]))


@pytest.mark.parametrize("fn", [
    lambda s, c: interaction_features(s, c),
    lambda s, c: feature_dim(s.shape[0], c.shape[1]),
    lambda s, c: similarity_features(s, c),
    lambda s, c: cosine(s, c),
])
def test_shared_with_unequal_dims_is_a_named_error(fn):
    s, c = np.ones(5), np.ones((4, 3))
    with pytest.raises(PolicyError, match=r"dimension 5 and the candidates 3; pass "
                                          r"feature_space='separate'"):
        fn(s, c)


@pytest.mark.parametrize("name", FEATURED)
def test_policy_refuses_shared_with_unequal_dims(name):
    policy = make_policy(name)
    rng = np.random.default_rng(0)
    with pytest.raises(PolicyError, match=rf"{name}: feature_space='shared'.*dimension 5"):
        policy.select(np.ones(5), np.ones((4, 3)), 2, rng)
    assert policy.state_dim is None  # nothing half-built
    sep = make_policy(name, feature_space="separate", **SEPARATE.get(name, {}))
    assert len(sep.select(np.ones(5), rng.normal(size=(4, 3)), 2, rng).item_ids) == 2


@pytest.mark.parametrize("bad", ["auto", "", None, 1])
def test_unknown_feature_space_is_refused(bad):
    with pytest.raises(ConfigError, match="feature_space must be one of 'shared', 'separate'"):
        make_policy("linucb", feature_space=bad)


def test_greedy_needs_the_shared_space():
    with pytest.raises(ConfigError, match="greedy ranks by cos.*needs feature_space='shared'"):
        make_policy("greedy", feature_space="separate")


def test_random_ignores_the_feature_model():
    slate = make_policy("random").select(np.ones(5), np.ones((4, 3)), 2,
                                         np.random.default_rng(0))
    assert len(slate.item_ids) == 2


def test_separate_bandit_has_no_cosine_prior_and_outer_features():
    policy = make_policy("linucb", dim=3, feature_space="separate")
    assert policy.theta.shape == (3 * 3 + 3 + 1,)
    assert not policy.theta.any()  # the cosine prior needs one space
    shared = make_policy("linucb", dim=3)
    assert shared.theta.shape == (3 + 2,) and shared.theta[3] == 1.0


def test_extra_features_need_the_shared_space():
    policy = make_policy("linucb", extra_features=1, feature_space="separate")
    with pytest.raises(PolicyError, match="extra_features=1 needs feature_space='shared'"):
        policy.select(np.ones(3), np.ones((4, 4)), 2, np.random.default_rng(0))


@pytest.mark.parametrize("name", FEATURED)
def test_feature_space_is_saved(tmp_path, name):
    policy = make_policy(name, dim=3, feature_space="separate", **SEPARATE.get(name, {}))
    loaded = load_policy(policy.save(tmp_path / "p"))
    assert loaded.config.feature_space == "separate"
    meta = json.loads((tmp_path / "p" / "meta.json").read_text())
    assert meta["hyperparameters"]["feature_space"] == "separate"


@pytest.mark.parametrize(("dims", "expected"), [((3, 3), "shared"), ((3, 2), "separate")])
def test_checkpoint_without_the_field_loads_as_older_code_did(tmp_path, dims, expected):
    space = "shared" if dims[0] == dims[1] else "separate"
    policy = make_policy("linucb", feature_space=space)
    rng = np.random.default_rng(0)
    state, cands = rng.normal(size=dims[0]), rng.normal(size=(4, dims[1]))
    policy.select(state, cands, 2, rng)
    path = policy.save(tmp_path / "old")
    meta = json.loads((path / "meta.json").read_text())
    del meta["hyperparameters"]["feature_space"]  # as written before the field existed
    (path / "meta.json").write_text(json.dumps(meta))
    loaded = load_policy(path)
    assert loaded.config.feature_space == expected
    np.testing.assert_allclose(loaded.score(state, cands), policy.score(state, cands))


def test_slateq_cosine_choice_needs_the_shared_space():
    with pytest.raises(ConfigError, match="choice_model='cosine' needs feature_space='shared'"):
        make_policy("slateq", feature_space="separate")
