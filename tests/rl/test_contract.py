"""The slate-environment contract: named errors for environments that do not fit it."""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
import pytest
from gymnasium import spaces

from shelfwise.rl import EnvContractError, check_slate_env, evaluate_in_env
from shelfwise.rl.contract import item_feedback


class SpaceEnv(gymnasium.Env):
    """An env whose spaces are given (never stepped unless the spaces are valid)."""

    def __init__(self, obs_space: Any, act_space: Any, info: dict[str, Any] | None = None
                 ) -> None:
        self.observation_space, self.action_space = obs_space, act_space
        self._info = info if info is not None else {"clicks": np.zeros(2, bool),
                                                   "item_rewards": np.zeros(2)}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[Any, dict[str, Any]]:
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        return self.observation_space.sample(), 1.0, True, False, dict(self._info)


def obs(state: Any = None, cands: Any = None, **extra: Any) -> spaces.Dict:
    d: dict[str, Any] = dict(extra)
    if state is not False:
        d["state"] = state or spaces.Box(-1, 1, (3,), np.float32)
    if cands is not False:
        d["candidates"] = cands or spaces.Box(-1, 1, (5, 3), np.float32)
    return spaces.Dict(d)


ACT = spaces.MultiDiscrete([5, 5])

BAD = [
    (SpaceEnv(obs(cands=False), ACT), "observation space has no 'candidates' key"),
    (SpaceEnv(obs(state=False), ACT), "observation space has no 'state' key"),
    (SpaceEnv(spaces.Box(-1, 1, (3,)), ACT), "observation space must be a gymnasium.spaces.Dict"),
    (SpaceEnv(obs(state=spaces.Box(-1, 1, (2, 3))), ACT),
     r"observation space key 'state' must have shape \(d_u,\)"),
    (SpaceEnv(obs(cands=spaces.Discrete(4)), ACT),
     "observation space key 'candidates' must be a gymnasium.spaces.Box"),
    (SpaceEnv(obs(), spaces.Box(0, 4, (2,), np.float32)), "action space must have an integer"),
    (SpaceEnv(obs(), spaces.MultiDiscrete([5] * 6)), "slate size k=6 must be between 1 and"),
    (SpaceEnv(obs(), spaces.Discrete(5)), "action space must hold int"),
    ("not an env", "env must be a gymnasium.Env or gymnasium.vector.VectorEnv, got str"),
]


@pytest.mark.parametrize(("env", "message"), BAD)
def test_bad_envs_are_named(env: Any, message: str) -> None:
    with pytest.raises(EnvContractError, match=message):
        check_slate_env(env)


def test_spec_of_a_valid_env_and_a_vector_env() -> None:
    spec = check_slate_env(SpaceEnv(obs(extra_key=spaces.Discrete(2)), ACT))
    assert (spec.k, spec.n_candidates, spec.state_dim, spec.cand_dim) == (2, 5, 3, 3)
    assert spec.autoreset == "single" and spec.num_envs == 1 and not spec.vector
    venv = gymnasium.vector.SyncVectorEnv([lambda: SpaceEnv(obs(), ACT)] * 3)
    vspec = check_slate_env(venv)
    assert vspec.vector and vspec.num_envs == 3 and vspec.autoreset == "next_step"


def test_step_info_without_clicks_is_refused_by_name() -> None:
    from agent.policy import make_policy

    env = SpaceEnv(obs(), ACT, info={"something": 1})
    with pytest.raises(EnvContractError, match="step info has no 'clicks' key"):
        evaluate_in_env(make_policy("random"), env, 2)


def test_missing_item_rewards_spread_the_step_reward() -> None:
    clicks, r = item_feedback({"clicks": [False, True, True]}, 3.0, 3)
    assert clicks.tolist() == [False, True, True] and r.tolist() == [0.0, 1.5, 1.5]
    _, r = item_feedback({"clicks": [False, False]}, 1.0, 2)
    assert r.tolist() == [0.5, 0.5]
    with pytest.raises(EnvContractError, match=r"'clicks' must have shape \(3,\)"):
        item_feedback({"clicks": [True]}, 1.0, 3)
    with pytest.raises(EnvContractError, match="'item_rewards' contains NaN"):
        item_feedback({"clicks": [True], "item_rewards": [np.nan]}, 1.0, 1)


def test_observation_without_candidates_at_run_time() -> None:
    from agent.policy import make_policy

    class Liar(SpaceEnv):
        def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
                  ) -> tuple[Any, dict[str, Any]]:
            return {"state": np.zeros(3, np.float32)}, {}

    with pytest.raises(EnvContractError, match="observation has no 'candidates' key"):
        evaluate_in_env(make_policy("random"), Liar(obs(), ACT), 2)
