"""The shopper simulator through the slate contract: registration, check_env, vector env."""

from __future__ import annotations

import subprocess
import sys

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import shelfwise  # noqa: F401  (registers shelfwise/Shopper-v0)
from agent.policy import make_policy
from shelfwise.errors import CatalogError, ConfigError
from shelfwise.rl import check_slate_env, evaluate_in_env, train_in_env
from shelfwise.sim import ShopperSimEnv, SimConfig
from shelfwise.sim.builtin import builtin_catalog, latent_from_vectors
from shelfwise.sim.env import ShopperVectorEnv
from shelfwise.sim.vector_env import SimBatch


def test_make_without_arguments_passes_check_env() -> None:
    env = gymnasium.make("shelfwise/Shopper-v0")
    check_env(env.unwrapped, skip_render_check=True)
    spec = check_slate_env(env)
    assert (spec.k, spec.n_candidates, spec.state_dim) == (4, 20, 16)
    obs, _ = env.reset(seed=0)
    _, reward, _, _, info = env.step(env.action_space.sample())
    assert info["clicks"].shape == (4,) and info["item_rewards"].sum() == pytest.approx(reward)


def test_registration_is_lazy_and_survives_import_order() -> None:
    code = ("import sys, shelfwise; assert 'gymnasium' not in sys.modules; import gymnasium; "
            "e = gymnasium.make('shelfwise/Shopper-v0', config={'k': 3, 'n_candidates': 12, "
            "'n_random_candidates': 2}); print(e.action_space.shape[0])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "3"


def test_make_with_a_workspace(demo_workspace) -> None:
    env = gymnasium.make("shelfwise/Shopper-v0", workspace=str(demo_workspace.root))
    obs, _ = env.reset(seed=1)
    assert obs["candidates"].shape == (50, obs["state"].shape[0])
    assert len(env.unwrapped.product_ids) > 50


def test_vector_env_trains_and_beats_random() -> None:
    envs = gymnasium.make_vec("shelfwise/Shopper-v0", num_envs=50,
                              vectorization_mode="vector_entry_point")
    assert isinstance(envs, ShopperVectorEnv) and check_slate_env(envs).lockstep
    policy = make_policy("linucb", alpha=0.1)
    res = train_in_env(policy, envs, 300, seed=0)
    assert res.episodes == 300 and res.updates > 0
    trained = evaluate_in_env(policy, envs, 400, metrics=("purchase_value",))
    base = evaluate_in_env(make_policy("random"), envs, 400, metrics=("purchase_value",))
    print(f"\nbuilt-in shop: linucb {trained.mean_return} vs random {base.mean_return}")
    assert trained.click_rate.mean > 1.1 * base.click_rate.mean
    assert trained.metrics["purchase_value"].mean >= 0.0


def test_vector_env_meets_the_shoppers_of_sim_run() -> None:
    latent, vectors = builtin_catalog()
    cfg = SimConfig(n_candidates=20, n_random_candidates=5, k=4)
    env = ShopperVectorEnv(SimBatch(latent, vectors, cfg), 6)
    obs, _ = env.reset(seed=11)
    sim = SimBatch(latent, vectors, cfg)
    sim.reset(6, np.random.default_rng(11).spawn(3)[0])
    np.testing.assert_array_equal(obs["candidate_ids"], sim.candidate_ids)
    np.testing.assert_allclose(obs["state"], sim.states)
    env.step(np.tile(np.arange(4), (6, 1)))
    with pytest.raises(ConfigError, match="lock step"):
        env.reset(options={"reset_mask": np.array([True] + [False] * 5)})


def test_single_env_rewards_split_per_slot_and_train() -> None:
    env = ShopperSimEnv()
    obs, _ = env.reset(seed=3)
    total = clicked = 0.0
    for _ in range(30):
        obs, reward, term, trunc, info = env.step(env.action_space.sample())
        assert info["item_rewards"].sum() == pytest.approx(reward)
        assert info["clicks"].sum() == (info["clicked_position"] >= 0)
        total += reward
        clicked += info["clicks"].sum()
        if term or trunc:
            break
    assert total == clicked  # reward = 1 per click by default
    res = train_in_env(make_policy("lints"), env, 5, seed=1)
    assert res.episodes == 5 and res.updates == res.records


def test_any_catalog_vectors_without_a_latent_table() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(120, 8)).astype(np.float32)
    env = ShopperSimEnv(product_vectors=vectors, config={"n_candidates": 10,
                                                         "n_random_candidates": 2, "k": 3})
    check_env(env, skip_render_check=True)
    latent = latent_from_vectors(vectors, seed=1)
    assert len(latent) == 120 and latent["category"].nunique() > 1
    with pytest.raises(CatalogError, match="contain NaN"):
        latent_from_vectors(np.full((3, 2), np.nan))
    with pytest.raises(ConfigError, match="latent given without product_vectors"):
        ShopperSimEnv(latent=latent)
