"""ShopperSimEnv: Gymnasium contract, seeding, action validation, config validation."""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from gymnasium.utils.env_checker import check_env

from shelfwise.errors import CatalogError, ConfigError
from shelfwise.sim import ShopperSimEnv, SimConfig

CFG = SimConfig(n_candidates=20, n_random_candidates=5, k=4, max_steps=12)


def rollout(env: ShopperSimEnv, seed: int, n_steps: int = 12) -> list[tuple]:
    obs, info = env.reset(seed=seed)
    rng = np.random.default_rng(0)
    out: list[tuple] = [(obs["candidate_ids"].tolist(), info["intent"])]
    for _ in range(n_steps):
        action = rng.choice(env.config.n_candidates, env.config.k, replace=False)
        obs, reward, term, trunc, info = env.step(action)
        out.append(
            (
                obs["candidate_ids"].tolist(),
                obs["state"].tolist(),
                reward,
                info["clicked_product_id"],
                info["purchased"],
                term,
                trunc,
            )
        )
        if term or trunc:
            break
    return out


def test_check_env_passes(
    latent: pd.DataFrame, vectors: np.ndarray, query_encoder: Callable[[list[str]], np.ndarray]
) -> None:
    check_env(
        ShopperSimEnv(latent, vectors, CFG, query_encoder=query_encoder), skip_render_check=True
    )
    check_env(ShopperSimEnv(latent, vectors, CFG), skip_render_check=True)


def test_observation_layout(latent: pd.DataFrame, vectors: np.ndarray) -> None:
    env = ShopperSimEnv(latent, vectors, CFG)
    obs, info = env.reset(seed=3)
    assert obs["state"].shape == (16,) and obs["state"].dtype == np.float32
    assert obs["candidates"].shape == (20, 16)
    assert obs["candidate_ids"].shape == (20,)
    assert len(set(obs["candidate_ids"].tolist())) == 20
    np.testing.assert_allclose(obs["candidates"], vectors[obs["candidate_ids"]], atol=1e-6)
    assert np.isclose(np.linalg.norm(obs["state"]), 1.0, atol=1e-5)
    assert set(info) == {"intent", "intent_category"}
    _, reward, _, _, info = env.step(np.arange(4))
    assert set(info) >= {"clicked_position", "clicked_product_id", "purchased", "price", "budget"}
    assert reward in (0.0, 1.0)
    assert (info["clicked_product_id"] is None) == (info["clicked_position"] == -1)


def test_same_seed_same_trajectory_and_different_seeds_differ(
    latent: pd.DataFrame, vectors: np.ndarray, query_encoder: Callable[[list[str]], np.ndarray]
) -> None:
    env_a = ShopperSimEnv(latent, vectors, CFG, query_encoder=query_encoder)
    env_b = ShopperSimEnv(latent, vectors, CFG, query_encoder=query_encoder)
    assert rollout(env_a, 11) == rollout(env_b, 11)
    assert rollout(env_a, 11) == rollout(env_a, 11)
    trajectories = {repr(rollout(env_a, s)) for s in range(5)}
    assert len(trajectories) == 5


def test_episode_ends_and_step_after_end_raises(latent: pd.DataFrame, vectors: np.ndarray) -> None:
    env = ShopperSimEnv(latent, vectors, CFG)
    env.reset(seed=0)
    for _ in range(CFG.max_steps):
        _, _, term, trunc, _ = env.step(np.arange(4))
        if term or trunc:
            break
    assert term or trunc
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.arange(4))


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ([0, 1, 1, 2], r"action [0, 1, 1, 2] (session 0): duplicate positions"),
        ([0, 1, 2, 20], r"action [0, 1, 2, 20] (session 0): positions must be in [0, 20)"),
        ([-1, 1, 2, 3], r"action [-1, 1, 2, 3] (session 0): positions must be in [0, 20)"),
        ([0, 1, 2], r"action: expected shape (1, 4), got (1, 3)"),
        ([0.5, 1, 2, 3], r"action: positions must be integers, got dtype float64"),
    ],
)
def test_bad_actions_raise(
    latent: pd.DataFrame, vectors: np.ndarray, action: list, message: str
) -> None:
    env = ShopperSimEnv(latent, vectors, CFG)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=re.escape(message)):
        env.step(np.array(action))
    assert env.action_space.contains(np.array([0, 1, 2, 3]))
    assert not env.action_space.contains(np.array([0, 1, 1, 3]))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k": 0}, "k: Input should be greater than or equal to 1"),
        ({"k": 60}, "k (60) must be <= n_candidates (50)"),
        ({"n_random_candidates": 50}, "n_random_candidates (50) must be < n_candidates (50)"),
        ({"intent_share": 1.5}, "intent_share: Input should be less than or equal to 1"),
        ({"reward": "revenue"}, "reward: Input should be 'clicks' or 'purchase_value'"),
        ({"price_sensitivity": (1.0, 0.5)}, "price_sensitivity (1.0, 0.5) must be 0 <= low"),
        ({"budgett": 3}, "budgett: Extra inputs are not permitted"),
    ],
)
def test_bad_config_raises_config_error(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        SimConfig(**kwargs)


def test_bad_inputs_name_the_problem(latent: pd.DataFrame, vectors: np.ndarray) -> None:
    with pytest.raises(CatalogError, match=r"missing column\(s\) \['colour'\]"):
        ShopperSimEnv(latent.drop(columns=["colour"]), vectors)
    with pytest.raises(CatalogError, match=r"product_vectors: shape \(599, 16\)"):
        ShopperSimEnv(latent, vectors[:-1])
    bad = latent.copy()
    bad.loc[3, "price"] = -1.0
    with pytest.raises(CatalogError, match="row 3, column 'price'"):
        ShopperSimEnv(bad, vectors)
    with pytest.raises(ConfigError, match=r"n_candidates \(50\) exceeds the catalogue size"):
        ShopperSimEnv(latent.iloc[:10], vectors[:10])


def test_custom_candidate_fn_is_used_and_topped_up(
    latent: pd.DataFrame, vectors: np.ndarray
) -> None:
    calls: list[int] = []

    def retrieve(state: np.ndarray, n: int) -> np.ndarray:
        calls.append(n)
        rows = np.argsort(-(vectors @ state))[: n - 3]
        return np.concatenate([rows, [-1, -1]])  # FAISS-style padding

    env = ShopperSimEnv(latent, vectors, CFG, candidate_fn=retrieve)
    obs, _ = env.reset(seed=1)
    ids = obs["candidate_ids"]
    assert calls == [20]
    assert len(set(ids.tolist())) == 20
    np.testing.assert_array_equal(ids[:17], np.argsort(-(vectors @ obs["state"]))[:17])
