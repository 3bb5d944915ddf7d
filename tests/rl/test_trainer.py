"""train_in_env / evaluate_in_env mechanics on a deterministic env, in every reset mode."""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.vector import AutoresetMode

from agent.policy import Slate, load_policy, make_policy
from agent.policy.base import Learning
from shelfwise.errors import ConfigError
from shelfwise.rl import evaluate_in_env, train_in_env
from shelfwise.rl.rollout import TRAIN_SEED_LOW


class CountEnv(gymnasium.Env):
    """Episodes of 1-3 steps; state = [step index, episode length]; 1 click per step.

    Odd lengths end ``terminated``, even ones ``truncated``. Reset seeds are recorded.
    """

    seeds: ClassVar[list[int | None]] = []
    observation_space = spaces.Dict({
        "state": spaces.Box(-np.inf, np.inf, (2,), np.float64),
        "candidates": spaces.Box(-1, 1, (4, 2), np.float64)})
    action_space = spaces.MultiDiscrete([4, 4])

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        super().reset(seed=seed)
        CountEnv.seeds.append(seed)
        self.t, self.length = 0, int(self.np_random.integers(1, 4))
        return self._obs(), {}

    def _obs(self) -> dict[str, np.ndarray]:
        return {"state": np.array([self.t, self.length], dtype=np.float64),
                "candidates": np.eye(4, 2)}

    def step(self, action: Any) -> tuple[dict[str, np.ndarray], float, bool, bool,
                                         dict[str, Any]]:
        self.t += 1
        end = self.t >= self.length
        info = {"clicks": np.array([True, False]), "item_rewards": np.array([2.0, 0.0])}
        return self._obs(), 2.0, end and self.length % 2 == 1, end and self.length % 2 == 0, info


class Recorder:
    """A policy that always shows positions (0, 1) and records what update receives."""

    name = "recorder"
    version = "recorder-0"

    def __init__(self, mode: str) -> None:
        self.learning = Learning(mode, off_policy=True)
        self.batches: list[list[Any]] = []

    def select(self, state: np.ndarray, candidates: np.ndarray, k: int,
               rng: np.random.Generator) -> Slate:
        return Slate(np.arange(k), np.zeros(k), np.ones(k), self.name, self.version)

    def update(self, batch: list[Any]) -> None:
        self.batches.append(list(batch))


def make_env(kind: str) -> Any:
    if kind == "single":
        return CountEnv()
    mode = {"next_step": AutoresetMode.NEXT_STEP, "same_step": AutoresetMode.SAME_STEP,
            "disabled": AutoresetMode.DISABLED}[kind]
    return gymnasium.vector.SyncVectorEnv([CountEnv] * 3, autoreset_mode=mode)


KINDS = ["single", "next_step", "same_step", "disabled"]


@pytest.mark.parametrize("kind", KINDS)
def test_evaluation_counts_whole_episodes_in_every_reset_mode(kind: str) -> None:
    res = evaluate_in_env(make_policy("random"), make_env(kind), 11, seed=40)
    per = res.per_episode
    assert res.episodes == 11 and per["returns"].shape == (11,)
    assert set(per["lengths"].tolist()) <= {1, 2, 3} and len(set(per["lengths"].tolist())) > 1
    np.testing.assert_array_equal(per["returns"], 2.0 * per["lengths"])
    np.testing.assert_array_equal(per["clicks"], per["lengths"])
    assert res.click_rate.mean == 1.0


@pytest.mark.parametrize("kind", KINDS)
def test_episode_learner_gets_whole_episodes_in_time_order(kind: str) -> None:
    policy = Recorder("episode")
    out = train_in_env(policy, make_env(kind), 12, update_every=4, epochs=2, minibatch=3,
                       seed=1)
    assert out.updates == len(policy.batches) > 0
    seen = 0
    for batch in policy.batches:
        assert batch[-1].done
        episode: list[Any] = []
        for fb in batch:
            episode.append(fb)
            assert fb.rewards.tolist() == [2.0, 0.0]  # raw per-step rewards, no returns
            if fb.done:
                steps = [int(f.state[0]) for f in episode]
                assert steps == list(range(int(episode[0].state[1])))
                assert fb.truncated == (len(episode) % 2 == 0)
                assert (fb.next_state is None) == (not fb.truncated)
                seen += 1
                episode = []
        assert not episode
    assert seen == 2 * 12  # every episode, once per epoch


def test_step_and_replay_learners() -> None:
    step = Recorder("step")
    out = train_in_env(step, make_env("next_step"), 9, seed=2)
    assert out.updates == len(step.batches) > 0
    assert all(1 <= len(b) <= 3 for b in step.batches)  # one step of the 3 sub-envs
    assert sum(len(b) for b in step.batches) == out.records
    replay = Recorder("replay")
    out = train_in_env(replay, make_env("same_step"), 9, seed=2, minibatch=4, epochs=2)
    assert all(len(b) <= 4 for b in replay.batches) and out.updates >= out.records * 2 // 4
    none = Recorder("none")
    assert train_in_env(none, make_env("single"), 3).updates == 0 and not none.batches


def test_training_and_evaluation_seeds_never_meet() -> None:
    CountEnv.seeds.clear()
    train_in_env(make_policy("random"), make_env("single"), 6, seed=0)
    train_seeds = list(CountEnv.seeds)
    CountEnv.seeds.clear()
    evaluate_in_env(make_policy("random"), make_env("single"), 6, seed=123)
    assert all(s is not None and s >= TRAIN_SEED_LOW for s in train_seeds)
    assert CountEnv.seeds == list(range(123, 129))
    with pytest.raises(ConfigError, match="seed must be below 2"):
        evaluate_in_env(make_policy("random"), make_env("single"), 2, seed=2**31)


def test_same_seed_same_training(tmp_path: Any) -> None:
    a, b = make_policy("linucb", seed=0), make_policy("linucb", seed=0)
    ra = train_in_env(a, make_env("next_step"), 10, seed=4)
    rb = train_in_env(b, make_env("next_step"), 10, seed=4)
    assert a.version == b.version and ra.records == rb.records


def test_checkpoints_curve_and_progress(tmp_path: Any) -> None:
    policy = make_policy("linucb")
    ticks: list[int] = []
    res = train_in_env(policy, make_env("next_step"), 20, checkpoint=tmp_path / "ck",
                       checkpoint_every=5, curve_every=4, progress=ticks.append)
    assert res.checkpoints == 4  # after 5, 10, 15 and at the end
    assert load_policy(tmp_path / "ck").version == policy.version
    assert sum(ticks) == 20
    assert res.curve is not None and res.curve.episodes.tolist() == [4, 8, 12, 16, 20]
    assert np.all(res.curve.mean_return >= 2.0)


def test_reward_normalisation_scales_but_does_not_centre() -> None:
    from shelfwise.rl.trainer import RewardScaler

    policy = Recorder("step")
    train_in_env(policy, make_env("single"), 30, normalize_rewards=True)
    # every step reward is 2.0 (zero variance): the scale stays 1
    assert policy.batches[-1][0].rewards.tolist() == [2.0, 0.0]
    scaler = RewardScaler(True, warmup=4)
    scaler.observe(np.array([0.0, 4.0, 0.0, 4.0, 100.0]))  # the 5th is past the warm-up
    assert scaler.scale == pytest.approx(np.std([0, 4, 0, 4], ddof=1))
    assert RewardScaler(False).scale == 1.0


BAD_ARGS = [
    ({"episodes": 0}, "episodes must be an int >= 1"),
    ({"epsilon": 1.5}, r"epsilon must be in \[0, 1\]"),
    ({"minibatch": 0}, "minibatch must be an int >= 1"),
]


@pytest.mark.parametrize(("kwargs", "message"), BAD_ARGS)
def test_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    args = {"episodes": 2, **kwargs}
    with pytest.raises(ConfigError, match=message):
        train_in_env(make_policy("random"), make_env("single"), args.pop("episodes"), **args)


def test_time_limit_stops_starting_episodes() -> None:
    res = train_in_env(make_policy("linucb"), make_env("next_step"), 1000, time_limit=0.0)
    assert res.episodes == 3  # the three started at reset finish; no new one is counted
    assert res.curve is not None and res.curve.episodes[-1] == 3
