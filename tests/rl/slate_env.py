"""A small slate environment with a cascade choice model and a known optimal policy.

Not shelfwise's simulator: nothing here imports ``shelfwise``. It follows the slate contract
of :mod:`shelfwise.rl.contract` and is used by ``tests/rl`` and by ``benchmarks/policies.py``
(loaded from this file's path with ``importlib``; see :func:`load` in ``tests/rl/conftest.py``).

Model (all seeded by ``world_seed``):

- ``n_types`` shopper types, unit vectors ``u`` in ``R^d``; an episode's shopper is one type,
  observed exactly as ``state``.
- a catalog of ``n_items`` items with unit feature vectors ``x`` (observed as candidate rows)
  and a hidden quality direction ``q`` (never observed): the click probability of item ``x``
  for shopper ``u`` is ``p = sigmoid(a u·x + b q·x + c)``.
- each step shows ``n_candidates`` items drawn from the catalog; the shopper scans the
  ``k``-slate top down and clicks the first item she likes (cascade model: item ``j`` is
  clicked with probability ``p_j prod_{i<j}(1 - p_i)``); reward 1 per click.
- after a step without a click she leaves with probability ``leave``; at most ``horizon``
  steps (then ``truncated``).

Optimal policy (exact): the probability of a click, ``1 - prod(1 - p_i)``, is maximal for the
``k`` items of highest ``p`` (in any order), and a click both pays and keeps the shopper, while
the next candidates do not depend on the slate, so showing the top-``k`` by ``p`` at every step
maximises the expected return. :class:`OptimalPolicy` does that from the observation and the
hidden parameters; :meth:`CascadeSlateEnv.expected_optimal_return` computes its value.
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

__all__ = ["CascadeSlateEnv", "OptimalPolicy"]


def _unit(rng: np.random.Generator, m: int, d: int) -> np.ndarray:
    v = rng.normal(size=(m, d))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


class CascadeSlateEnv(gymnasium.Env):
    """Cascade-click slate environment with a known optimum (see the module docstring).

    Args:
        dim: feature dimension ``d`` (states and items share it).
        n_items: catalog size.
        n_candidates: candidates per step.
        k: slate size.
        n_types: shopper types.
        horizon: steps per episode at most.
        leave: probability of leaving after a step without a click.
        a: weight of the shopper-item affinity in the click logit.
        b: weight of the hidden item quality.
        c: click-logit offset.
        world_seed: seed of the hidden world (types, items, quality).

    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, dim: int = 6, n_items: int = 60, n_candidates: int = 10, k: int = 3,
                 n_types: int = 4, horizon: int = 5, leave: float = 0.5, a: float = 3.0,
                 b: float = 2.0, c: float = -3.0, world_seed: int = 0) -> None:
        rng = np.random.default_rng(world_seed)
        self.types = _unit(rng, n_types, dim)
        self.items = _unit(rng, n_items, dim)
        self.quality = _unit(rng, 1, dim)[0]
        self.a, self.b, self.c = a, b, c
        self.n_candidates, self.k = n_candidates, k
        self.horizon, self.leave = horizon, leave
        self.observation_space = spaces.Dict({
            "state": spaces.Box(-1.0, 1.0, shape=(dim,), dtype=np.float32),
            "candidates": spaces.Box(-1.0, 1.0, shape=(n_candidates, dim), dtype=np.float32),
        })
        self.action_space = spaces.MultiDiscrete(np.full(k, n_candidates), dtype=np.int64)
        self._user = 0
        self._rows = np.zeros(n_candidates, dtype=np.int64)
        self._t = 0

    # -- the hidden model (what the optimal policy may read)
    def click_probs(self, state: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """True click probability of each candidate row for this state, ``(n,)``."""
        s = np.asarray(state, dtype=np.float64)
        x = np.asarray(candidates, dtype=np.float64)
        z = self.a * (x @ s) + self.b * (x @ self.quality) + self.c
        return 1.0 / (1.0 + np.exp(-z))

    def _obs(self) -> dict[str, np.ndarray]:
        return {"state": self.types[self._user].astype(np.float32),
                "candidates": self.items[self._rows].astype(np.float32)}

    def _draw(self) -> None:
        self._rows = self.np_random.choice(len(self.items), self.n_candidates, replace=False)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Draw a shopper type and the first candidates."""
        super().reset(seed=seed)
        self._user = int(self.np_random.integers(len(self.types)))
        self._t = 0
        self._draw()
        return self._obs(), {}

    def step(self, action: Any) -> tuple[dict[str, np.ndarray], float, bool, bool,
                                         dict[str, Any]]:
        """Show the slate; the shopper clicks at most one item (cascade)."""
        act = np.asarray(action, dtype=np.int64).reshape(-1)
        if act.shape != (self.k,) or len(set(act.tolist())) != self.k or act.min() < 0 \
                or act.max() >= self.n_candidates:
            raise ValueError(f"action must be {self.k} distinct positions in "
                             f"[0, {self.n_candidates}), got {act.tolist()}")
        obs = self._obs()
        p = self.click_probs(obs["state"], obs["candidates"])[act]
        clicks = np.zeros(self.k, dtype=bool)
        for j in range(self.k):
            if self.np_random.random() < p[j]:
                clicks[j] = True
                break
        reward = float(clicks.sum())
        self._t += 1
        terminated = not clicks.any() and bool(self.np_random.random() < self.leave)
        truncated = not terminated and self._t >= self.horizon
        self._draw()
        info = {"clicks": clicks, "item_rewards": clicks.astype(np.float64)}
        return self._obs(), reward, terminated, truncated, info

    def expected_optimal_return(self, n_samples: int = 20000, seed: int = 0) -> float:
        """Expected episode return of the optimal policy (Monte Carlo over candidate draws).

        Per step the optimal click probability ``P = 1 - prod(1 - p_top-k)`` depends only on
        the shopper and the drawn candidates; the return is ``sum_t prod_{s<t} alive_s P_t``
        with ``alive = P + (1 - P)(1 - leave)``, averaged over shoppers and draws.
        """
        rng = np.random.default_rng(seed)
        total = 0.0
        for _ in range(n_samples):
            u = self.types[rng.integers(len(self.types))]
            alive, ret = 1.0, 0.0
            for _t in range(self.horizon):
                rows = rng.choice(len(self.items), self.n_candidates, replace=False)
                p = np.sort(self.click_probs(u, self.items[rows]))[::-1][:self.k]
                pc = 1.0 - np.prod(1.0 - p)
                ret += alive * pc
                alive *= pc + (1.0 - pc) * (1.0 - self.leave)
            total += ret
        return total / n_samples


class _Fixed:
    """Minimal non-learning policy with the public surface the trainer uses."""

    def __init__(self, name: str) -> None:
        from agent.policy.base import Learning

        self.name = name
        self.learning = Learning("none")
        self.version = f"{name}-fixed"

    def _slate(self, order: np.ndarray, props: np.ndarray) -> Any:
        from agent.policy import Slate

        return Slate(order.astype(np.int64), np.zeros(len(order)), props, self.name,
                     self.version)


class OptimalPolicy(_Fixed):
    """The known optimum: the ``k`` candidates of highest true click probability."""

    def __init__(self, env: CascadeSlateEnv) -> None:
        super().__init__("optimal")
        self.env = env

    def select(self, state: np.ndarray, candidates: np.ndarray, k: int,
               rng: np.random.Generator) -> Any:
        """Top-``k`` by the hidden click probability (deterministic, propensity 1)."""
        p = self.env.click_probs(state, candidates)
        return self._slate(np.argsort(-p, kind="stable")[:k], np.ones(k))
