"""Every learning policy trains on an environment that is not shelfwise's own, public API only.

The cascade environment of ``tests/rl/slate_env.py`` has a different choice model from the
shopper simulator (cascade clicks, a hidden item quality) and a known optimal policy. Each
registered policy that learns is trained through :func:`shelfwise.rl.train_in_env` on a tiny
budget and evaluated on held-out episodes against uniform random slates and the optimum.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import gymnasium
import pytest

from agent.policy import POLICIES, make_policy
from shelfwise.rl import evaluate_in_env, train_in_env

LEARNERS = sorted(name for name, cls in POLICIES.items() if cls.learning.mode != "none")

# Tiny budgets (episodes of at most 5 steps, 8 envs stepped together); the rates suit this
# environment's reward scale (one click per step at most).
PLAN: dict[str, dict[str, Any]] = {
    "linucb": {"episodes": 240},
    "lints": {"episodes": 240},
    "slateq": {"episodes": 320, "epsilon": 0.1, "update_every": 2},
    "reinforce": {"episodes": 600, "options": {"lr": 0.03}},
    "actor_critic": {"episodes": 600, "options": {"lr": 0.03, "critic_lr": 0.01}},
}
EVAL = 400


@pytest.fixture(scope="module")
def world(slate_env_module: ModuleType) -> dict[str, Any]:
    def make() -> Any:
        return slate_env_module.CascadeSlateEnv(a=2.0, b=3.0)

    env = gymnasium.vector.SyncVectorEnv([make] * 8)
    optimal = evaluate_in_env(slate_env_module.OptimalPolicy(make()), env, EVAL)
    uniform = evaluate_in_env(make_policy("random"), env, EVAL)
    return {"env": env, "make": make, "optimal": optimal, "uniform": uniform}


def test_the_known_optimum_is_what_the_optimal_policy_gets(world: dict[str, Any]) -> None:
    exact = world["make"]().expected_optimal_return(n_samples=3000)
    got = world["optimal"].mean_return
    assert got.ci_low - 0.05 <= exact <= got.ci_high + 0.05
    assert world["uniform"].mean_return.mean < 0.5 * exact


@pytest.mark.parametrize("name", LEARNERS)
def test_learner_beats_random_clearly(name: str, world: dict[str, Any]) -> None:
    cfg = PLAN.get(name, {"episodes": 600})
    policy = make_policy(name, seed=1, **cfg.get("options", {}))
    result = train_in_env(policy, world["env"], cfg["episodes"], seed=3,
                          epsilon=cfg.get("epsilon", 0.0), update_every=cfg.get("update_every"))
    assert result.episodes == cfg["episodes"] and result.updates > 0
    assert result.curve is not None and result.curve.episodes[-1] == cfg["episodes"]
    res = evaluate_in_env(policy, world["env"], EVAL)
    lo, hi = world["uniform"].mean_return.mean, world["optimal"].mean_return.mean
    share = (res.mean_return.mean - lo) / (hi - lo)
    print(f"\n{name}: {res.mean_return} (random {lo:.3f}, optimal {hi:.3f}; "
          f"{share:.0%} of the headroom, {result.seconds:.1f}s)")
    # clear margin: at least 40% of the random-to-optimal headroom, and outside the noise
    assert share >= 0.4
    assert res.mean_return.ci_low > world["uniform"].mean_return.ci_high


def test_best_policy_gets_near_the_optimum(world: dict[str, Any]) -> None:
    policy = make_policy("reinforce", seed=2, lr=0.03)
    train_in_env(policy, world["env"], 800, seed=5)
    res = evaluate_in_env(policy, world["env"], EVAL)
    ratio = res.mean_return.mean / world["optimal"].mean_return.mean
    print(f"\nreinforce: {ratio:.0%} of the optimal return")
    assert ratio >= 0.85
