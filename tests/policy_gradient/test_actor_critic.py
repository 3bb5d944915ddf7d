"""Actor-critic: hand-checked TD targets, learning to the optimum, checkpoints, rollback."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from agent.policy import ActorCriticPolicy, load_policy, make_policy
from agent.policy.actor_critic import td_advantages
from encoders.errors import ConfigError, PolicyError

sys.path.insert(0, str(Path(__file__).parent))
from _data import D, N, SlateBandit, record, unit_rows  # noqa: E402

RNG = np.random.default_rng(0)
S0, S1, S2 = unit_rows(RNG, 3, D)
CANDS = unit_rows(RNG, N, D)
LEARN = {"lr": 0.03, "critic_lr": 0.03, "entropy": 0.2, "gae_lambda": 0.0}


def test_td_targets_by_hand():
    rewards, values = [1.0, 0.0, 2.0], [0.5, 1.0, 2.0]
    next_values = [1.0, 2.0, 9.0]
    # terminal last record, gamma 0.5: delta = r + 0.5 V' - V, V' = 0 at the end
    adv, y = td_advantages(rewards, values, next_values, [False, False, True],
                           [False, False, True], 0.5)
    np.testing.assert_allclose(adv, [1.0 + 0.5 - 0.5, 0.0 + 1.0 - 1.0, 2.0 - 2.0])
    np.testing.assert_allclose(y, [1.5, 1.0, 2.0])  # r + 0.5 V'
    # truncated by a time limit: the last record bootstraps from V(next_state) = 9
    adv, y = td_advantages(rewards, values, next_values, [False, False, True],
                           [False, False, False], 0.5)
    np.testing.assert_allclose(adv[-1], 2.0 + 4.5 - 2.0)
    np.testing.assert_allclose(y[-1], 6.5)
    # lambda = 1: Monte Carlo return minus V; G = [1 + 0.5 * 0 + 0.25 * 2, 1, 2]
    adv, y = td_advantages(rewards, values, next_values, [False, False, True],
                           [False, False, True], 0.5, lam=1.0)
    np.testing.assert_allclose(adv, [1.5 - 0.5, 1.0 - 1.0, 2.0 - 2.0])
    np.testing.assert_allclose(y, [1.5, 1.0, 2.0])
    # two one-step episodes never share advantages
    adv, _ = td_advantages([1.0, 0.0], [0.0, 0.0], [5.0, 5.0], [True, True], [True, True],
                           0.9, lam=1.0)
    np.testing.assert_allclose(adv, [1.0, 0.0])


def test_update_uses_the_critic_on_next_state():
    """The critic's own V(s) at a truncated record's next_state feeds the target."""
    policy = make_policy("actor_critic", dim=D, seed=0, gae_lambda=0.0)
    batch = [record(S0, CANDS, [0, 1], [True, False], [1.0, 0.0], done=False,
                    next_state=S1),
             record(S1, CANDS, [2, 3], [False, False], [0.0, 0.0], done=True,
                    truncated=True, next_state=S2)]
    from agent.policy._pg import RequestBatch

    rb = RequestBatch.of(batch, policy.features)
    adv, y = policy._advantages(batch, rb)
    v0, v1, v2 = policy.value(S0), policy.value(S1), policy.value(S2)
    np.testing.assert_allclose(y, [1.0 + 0.9 * v1, 0.0 + 0.9 * v2])
    np.testing.assert_allclose(adv, [1.0 + 0.9 * v1 - v0, 0.9 * v2 - v1])


def test_refuses_unfinished_episodes_and_truncation_without_next_state():
    policy = make_policy("actor_critic", dim=D, seed=0)
    with pytest.raises(ConfigError, match=r"actor_critic: update takes whole episodes.*"
                                          r"batch\[0\] \(the last record\) is not done"):
        policy.update([record(S0, CANDS, [0, 1], [True, False], [1.0, 0.0], done=False)])
    with pytest.raises(ConfigError, match=r"batch\[0\] is truncated but has no next_state"):
        policy.update([record(S0, CANDS, [0, 1], [True, False], [1.0, 0.0], truncated=True)])
    assert policy.n_updates == 0


def test_learns_a_slate_bandit_to_90_percent_of_the_optimum():
    env = SlateBandit(seed=0)
    policy = make_policy("actor_critic", dim=D, seed=0, **LEARN)
    rng = np.random.default_rng(2)
    start = env.expected_return(policy, np.random.default_rng(3))
    for _ in range(60):
        policy.update(env.episodes(policy, rng, 32))
    got = env.expected_return(policy, np.random.default_rng(3))
    print(f"actor-critic: {got:.3f} of optimum {env.optimum():.3f} (untrained {start:.3f})")
    assert got >= 0.9 * env.optimum() > start
    for c in range(len(env.states)):  # the critic learned each context's value
        assert policy.value(env.states[c]) == pytest.approx(got, abs=0.6)


def test_learns_off_policy_from_a_uniform_logger():
    env = SlateBandit(seed=1)
    logger = make_policy("random")
    policy = make_policy("actor_critic", dim=D, seed=0, **LEARN)
    rng = np.random.default_rng(2)
    for _ in range(60):
        policy.update(env.episodes(logger, rng, 32))
    got = env.expected_return(policy, np.random.default_rng(3))
    uniform = env.expected_return(logger, np.random.default_rng(3))
    print(f"actor-critic off-policy: {got:.3f} (uniform {uniform:.3f}, optimum "
          f"{env.optimum():.3f})")
    assert got >= 0.8 * env.optimum() and got > 1.5 * uniform


def test_long_term_value_beats_the_myopic_choice():
    """Item 0 pays 1 and ends the episode; item 1 pays 0.5 and leads to a step paying 2."""
    rng = np.random.default_rng(0)
    policy = make_policy("actor_critic", dim=D, seed=0, gamma=0.9, **LEARN)
    for _ in range(60):
        batch = []
        for _ in range(16):
            first = policy.select(S0, CANDS[:2], 1, rng)
            if first.item_ids[0] == 0:
                batch.append(_fb(S0, CANDS[:2], first, 1.0, done=True))
            else:
                batch.append(_fb(S0, CANDS[:2], first, 0.5, done=False, next_state=S1))
                batch.append(_fb(S1, CANDS[:2], policy.select(S1, CANDS[:2], 1, rng), 2.0,
                                 done=True))
        policy.update(batch)
    assert policy.probs(S0, CANDS[:2])[1] > 0.8
    assert policy.value(S0) > 1.5  # 0.5 + 0.9 * 2 = 2.3 under the optimal policy


def _fb(state, cands, slate, reward, *, done, next_state=None):
    from agent.policy import Feedback

    return Feedback(state, cands, slate, np.array([True]), np.array([reward]),
                    next_state=next_state, done=done)


def test_save_load_round_trip(tmp_path):
    env = SlateBandit(seed=0)
    policy = make_policy("actor_critic", dim=D, seed=0, **LEARN)
    rng = np.random.default_rng(0)
    for _ in range(3):
        policy.update(env.episodes(policy, rng, 8))
    for layout in ("ckpt", "ckpt.npz"):
        loaded = load_policy(policy.save(tmp_path / layout))
        assert isinstance(loaded, ActorCriticPolicy)
        assert loaded.version == policy.version and loaded.n_updates == 3
        assert loaded.config == policy.config
        np.testing.assert_array_equal(loaded.score(S0, CANDS), policy.score(S0, CANDS))
        assert loaded.value(S1) == policy.value(S1)
        a = policy.select(S0, CANDS, 3, np.random.default_rng(4))
        b = loaded.select(S0, CANDS, 3, np.random.default_rng(4))
        np.testing.assert_array_equal(a.item_ids, b.item_ids)
        np.testing.assert_allclose(a.propensities, b.propensities)


def test_overflowing_update_is_rolled_back():
    policy = make_policy("actor_critic", dim=D, seed=0)
    policy.update([record(S0, CANDS, [0, 1], [True, False], [1.0, 0.0])])
    before = {k: v.copy() for k, v in policy._get_params().items()}
    version = policy.version
    with pytest.raises(PolicyError, match=r"actor_critic: update refused: .*NaN or infinite"):
        policy.update([record(S0, CANDS, [0, 1], [True, True], [1e308, 1e308]),
                       record(S1, CANDS, [0, 1], [True, True], [1e308, 1e308])])
    assert policy.version == version and policy.n_updates == 1
    for key, value in policy._get_params().items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)
    policy.update([record(S0, CANDS, [0, 1], [False, True], [0.0, 1.0])])  # still learns
    assert policy.n_updates == 2


def test_checkpoint_with_a_nan_critic_is_refused(tmp_path):
    import json

    policy = make_policy("actor_critic", dim=D, seed=0)
    path = policy.save(tmp_path / "ac")
    with np.load(path / "params.npz") as z:
        arrays = dict(z)
    arrays["critic.2.bias"] = np.array([np.nan])
    np.savez(path / "params.npz", **arrays)
    meta = json.loads((path / "meta.json").read_text())
    del meta["params_sha256"]  # as if written before checksums: the values are still checked
    (path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(PolicyError, match="critic.2.bias"):
        load_policy(path)


@pytest.mark.parametrize(("options", "message"), [
    ({"gamma": -0.1}, r"gamma must be a number in \[0, 1\]"),
    ({"gae_lambda": 2}, r"gae_lambda must be a number in \[0, 1\], got 2"),
    ({"critic_hidden": 0}, "critic_hidden must be a positive int"),
    ({"critic_lr": 0.0}, "critic_lr must be a positive number"),
    ({"prior": 1.0, "feature_space": "separate"}, "prior=1.0 needs feature_space='shared'"),
])
def test_bad_hyperparameters_are_named(options, message):
    with pytest.raises(ConfigError, match=message):
        make_policy("actor_critic", **options)
