"""Gymnasium environments over the vectorised shopper simulator.

- :class:`ShopperSimEnv`: one session per episode (a ``gymnasium.Env``);
- :class:`ShopperVectorEnv`: a ``gymnasium.vector.VectorEnv`` over one
  :class:`~shelfwise.sim.vector_env.SimBatch` of ``num_envs`` sessions in lock step (fast
  training: one numpy step for every session).

Both follow the slate contract of :mod:`shelfwise.rl.contract` (``state`` / ``candidates``
observation, ``int64 (k,)`` action, ``clicks`` / ``item_rewards`` in ``info``), so
:func:`shelfwise.rl.train_in_env` trains on them like on any other slate environment.
Registered with Gymnasium as ``shelfwise/Shopper-v0`` (see :mod:`shelfwise.sim.registration`).
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
import pandas as pd
from gymnasium import spaces

from shelfwise.errors import ConfigError
from shelfwise.sim.config import SimConfig
from shelfwise.sim.shoppers import QueryEncoder
from shelfwise.sim.vector_env import CandidateFn, SimBatch, StepResult

__all__ = ["ShopperSimEnv", "ShopperVectorEnv", "SlateSpace", "item_rewards"]


def item_rewards(res: StepResult, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-slot clicks and rewards of a simulator step, ``bool (b, k)`` and ``float64 (b, k)``.

    The clicked slot gets the step's reward; a step reward without a click (possible with
    multi-objective rewards, e.g. retention) is spread equally over the ``k`` slots, so the
    slots always sum to the step reward.
    """
    b = res.rewards.shape[0]
    clicks = np.zeros((b, k), dtype=bool)
    hit = np.flatnonzero(res.clicked_rank >= 0)
    clicks[hit, res.clicked_rank[hit]] = True
    per = np.where(clicks, res.rewards[:, None], 0.0)
    spread = (~clicks.any(axis=1)) & (res.rewards != 0)
    per[spread] = (res.rewards[spread] / k)[:, None]
    return clicks, per


def _observation_space(n: int, d: int, n_products: int) -> spaces.Dict:
    return spaces.Dict(
        {
            "state": spaces.Box(-1.0, 1.0, shape=(d,), dtype=np.float32),
            "candidates": spaces.Box(-1.0, 1.0, shape=(n, d), dtype=np.float32),
            "candidate_ids": spaces.MultiDiscrete(
                np.full(n, n_products, dtype=np.int64), dtype=np.int64
            ),
        }
    )


def _build_sim(latent: pd.DataFrame | None, product_vectors: np.ndarray | None,
               config: SimConfig | dict[str, Any] | None, query_encoder: QueryEncoder | None,
               candidate_fn: CandidateFn | None, catalog_seed: int) -> SimBatch:
    """A SimBatch from a latent table + vectors, vectors alone, or the built-in catalog."""
    from shelfwise.sim.builtin import builtin_catalog, latent_from_vectors

    if isinstance(config, dict):
        config = SimConfig(**config)
    if product_vectors is None:
        if latent is not None:
            raise ConfigError("latent given without product_vectors; pass both, vectors "
                              "alone, or neither (the built-in catalog)")
        latent, product_vectors = builtin_catalog(seed=catalog_seed)
        if config is None:
            config = SimConfig(n_candidates=20, n_random_candidates=5, k=4)
    elif latent is None:
        latent = latent_from_vectors(product_vectors, seed=catalog_seed)
    return SimBatch(latent, product_vectors, config, query_encoder=query_encoder,
                    candidate_fn=candidate_fn)


class SlateSpace(spaces.MultiDiscrete):
    """``k`` *distinct* positions in ``[0, n)``: a MultiDiscrete whose samples never repeat.

    Args:
        n: number of candidates.
        k: slate size (``k <= n``).
        seed: optional seed of the space's own generator.

    """

    def __init__(self, n: int, k: int, seed: int | np.random.Generator | None = None) -> None:
        super().__init__(np.full(k, n, dtype=np.int64), dtype=np.int64, seed=seed)
        self.n_candidates = n
        self.k = k

    def sample(self, mask: Any = None, probability: Any = None) -> np.ndarray:
        """Draw ``k`` distinct positions uniformly (masks are not supported)."""
        if mask is not None or probability is not None:
            raise NotImplementedError("SlateSpace.sample does not support masks")
        return self.np_random.choice(self.n_candidates, size=self.k, replace=False).astype(np.int64)

    def contains(self, x: Any) -> bool:
        """MultiDiscrete membership plus distinct positions."""
        if not super().contains(x):
            return False
        arr = np.asarray(x)
        return bool(np.unique(arr).size == arr.size)

    def __repr__(self) -> str:
        return f"SlateSpace(n={self.n_candidates}, k={self.k})"


class ShopperSimEnv(gymnasium.Env):
    """One simulated shopping session per episode (slate recommendation, RecSim-style).

    Observation (``spaces.Dict``):

    * ``state``: ``float32 (d,)`` in ``[-1, 1]``, L2-normalised: recency-weighted mean of the
      clicked product vectors blended (``query_weight``) with the intent query vector; cold
      start = the query vector, or the normalised catalogue mean without one.
    * ``candidates``: ``float32 (n_candidates, d)`` product vectors of the candidates.
    * ``candidate_ids``: ``int64 (n_candidates,)`` product rows (index into the latent
      table / ``product_vectors``; map to ids with ``env.product_ids``).

    Action: :class:`SlateSpace` — ``int64 (k,)`` distinct candidate positions, rank 0 first.
    Duplicates, out-of-range positions or a wrong shape raise ``ConfigError`` (a ``ValueError``)
    quoting the action.

    Reward: ``config.reward`` — 1 per click or the price of a purchase. ``terminated`` when
    the session's time budget runs out, ``truncated`` at ``max_steps``.

    ``info`` after ``step``: ``clicks`` (bool ``(k,)``) and ``item_rewards`` (float ``(k,)``,
    see :func:`item_rewards`) -- the slate contract -- and ``clicked_position`` (int, -1 none),
    ``clicked_row`` (int, -1),
    ``clicked_product_id`` (str | None), ``purchased`` (bool), ``price`` (float, 0 without
    click), ``budget`` (float, remaining). After ``reset``: ``intent`` (query text or None),
    ``intent_category`` (str | None).

    Args:
        latent: latent table (``product_id, category, colour, material, pattern, style,
            price_band, brand, price``); row ``i`` ↔ ``product_vectors[i]``. ``None`` with
            vectors: derived from the vectors (:func:`~shelfwise.sim.builtin.
            latent_from_vectors`); ``None`` without vectors: the built-in seeded catalog
            (400 products, d = 16, 20 candidates, k = 4 unless ``config`` says otherwise).
        product_vectors: ``(P, d)`` L2-normalised product vectors.
        config: simulator settings (a :class:`SimConfig` or a dict of its fields).
        query_encoder: text -> ``(m, d)``; encodes intent queries into the product space.
        candidate_fn: ``(state (d,), n) -> rows`` retrieval (e.g. FAISS); default exact top
            dot product plus random products.
        render_mode: only ``None`` is supported.
        catalog_seed: seed of the built-in catalog / derived latent attributes.

    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(
        self,
        latent: pd.DataFrame | None = None,
        product_vectors: np.ndarray | None = None,
        config: SimConfig | dict[str, Any] | None = None,
        *,
        query_encoder: QueryEncoder | None = None,
        candidate_fn: CandidateFn | None = None,
        render_mode: str | None = None,
        catalog_seed: int = 0,
    ) -> None:
        if render_mode is not None:
            raise ConfigError(f"render_mode: only None is supported, got {render_mode!r}")
        self.sim = _build_sim(latent, product_vectors, config, query_encoder, candidate_fn,
                              catalog_seed)
        self.config = self.sim.config
        self.render_mode = render_mode
        cat = self.sim.catalog
        n, d = self.config.n_candidates, cat.dim
        self.observation_space = _observation_space(n, d, cat.n_products)
        self.action_space = SlateSpace(n, self.config.k)
        self._needs_reset = True

    @property
    def product_ids(self) -> np.ndarray:
        """``(P,)`` object array: product row -> product id string."""
        return self.sim.catalog.product_ids

    def _obs(self) -> dict[str, np.ndarray]:
        ids = self.sim.candidate_ids[0].copy()
        return {
            "state": self.sim.states[0].copy(),
            "candidates": np.clip(self.sim.catalog.vectors[ids], -1.0, 1.0),
            "candidate_ids": ids,
        }

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Start a new session with a freshly drawn shopper (seeded via ``seed``)."""
        super().reset(seed=seed)
        self.sim.reset(1, self.np_random)
        self._needs_reset = False
        sh = self.sim.shoppers
        cat_code = int(sh.intent_category[0])
        info = {
            "intent": sh.intent_text[0],
            "intent_category": self.sim.catalog.values[0][cat_code] if cat_code >= 0 else None,
        }
        return self._obs(), info

    def step(
        self, action: np.ndarray
    ) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        """Show the slate ``action`` (``k`` distinct candidate positions) to the shopper.

        Raises:
            ConfigError: invalid action (message quotes it).
            RuntimeError: called before ``reset`` or after the episode ended.

        """
        if self._needs_reset:
            raise RuntimeError(
                "ShopperSimEnv.step called before reset() or after the episode ended"
            )
        arr = np.asarray(action)
        res = self.sim.step(arr.reshape(1, -1) if arr.ndim == 1 else arr, self.np_random)
        terminated, truncated = bool(res.terminated[0]), bool(res.truncated[0])
        self._needs_reset = terminated or truncated
        row = int(res.clicked_row[0])
        clicks, per_item = item_rewards(res, self.config.k)
        info = {
            "clicks": clicks[0],
            "item_rewards": per_item[0],
            "clicked_position": int(res.clicked_rank[0]),
            "clicked_row": row,
            "clicked_product_id": str(self.product_ids[row]) if row >= 0 else None,
            "purchased": bool(res.purchased[0]),
            "price": float(res.price[0]),
            "purchase_value": float(res.price[0]) if bool(res.purchased[0]) else 0.0,
            "budget": float(self.sim.budget[0]),
        }
        return self._obs(), float(res.rewards[0]), terminated, truncated, info


class ShopperVectorEnv(gymnasium.vector.VectorEnv):
    """``num_envs`` shopper sessions in lock step over one :class:`SimBatch` (fast training).

    The observation, action and per-session ``info`` are those of :class:`ShopperSimEnv`,
    batched (``state (num_envs, d)``, ``candidates (num_envs, n, d)``, ``clicks``
    ``(num_envs, k)`` with a ``_clicks`` mask, ...). The batch restarts as a whole:
    ``metadata["autoreset_mode"]`` is ``Disabled`` and ``metadata["lockstep"]`` is true, so a
    trainer waits until every session has finished, then calls ``reset`` (sessions that
    finished early are not stepped: their actions are ignored and they report zero reward).
    ``reset(seed=s)`` draws the shoppers like ``SimBatch.run(..., seed=s)`` does, so a
    seed meets the same shoppers in both.

    Args:
        sim: the simulator (any :class:`SimBatch`, e.g. from
            :func:`shelfwise.sim.workspace.sim_from_workspace`); or ``None`` to build one from
            ``latent`` / ``product_vectors`` / ``config`` as :class:`ShopperSimEnv` does.
        num_envs: sessions per batch.
        latent: see :class:`ShopperSimEnv` (only without ``sim``).
        product_vectors: see :class:`ShopperSimEnv`.
        config: see :class:`ShopperSimEnv`.
        catalog_seed: see :class:`ShopperSimEnv`.

    """

    metadata: dict[str, Any] = {"render_modes": [],
                                "autoreset_mode": gymnasium.vector.AutoresetMode.DISABLED,
                                "lockstep": True}

    def __init__(self, sim: SimBatch | None = None, num_envs: int = 64, *,
                 latent: pd.DataFrame | None = None, product_vectors: np.ndarray | None = None,
                 config: SimConfig | dict[str, Any] | None = None,
                 catalog_seed: int = 0) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
            raise ConfigError(f"num_envs must be a positive int, got {num_envs!r}")
        if sim is None:
            sim = _build_sim(latent, product_vectors, config, None, None, catalog_seed)
        self.sim = sim
        self.config = sim.config
        self.num_envs = num_envs
        cat = sim.catalog
        n, d, k = self.config.n_candidates, cat.dim, self.config.k
        self.single_observation_space = _observation_space(n, d, cat.n_products)
        self.single_action_space = SlateSpace(n, k)
        self.observation_space = gymnasium.vector.utils.batch_space(
            self.single_observation_space, num_envs)
        self.action_space = spaces.MultiDiscrete(np.full((num_envs, k), n, dtype=np.int64),
                                                 dtype=np.int64)
        self._rng: np.random.Generator | None = None

    def _obs(self) -> dict[str, np.ndarray]:
        ids = self.sim.candidate_ids.copy()
        return {"state": self.sim.states.copy(),
                "candidates": np.clip(self.sim.catalog.vectors[ids], -1.0, 1.0),
                "candidate_ids": ids}

    def reset(self, *, seed: int | list[int] | None = None,
              options: dict[str, Any] | None = None) -> tuple[dict[str, np.ndarray],
                                                              dict[str, Any]]:
        """Start ``num_envs`` new sessions (all of them: the batch is lock-step).

        Raises:
            ConfigError: a ``reset_mask`` that leaves a running session out.

        """
        mask = (options or {}).get("reset_mask")
        if mask is not None and self._rng is not None:
            keep = ~np.asarray(mask, dtype=bool)
            if (keep & ~self.sim.done).any():
                raise ConfigError("ShopperVectorEnv runs its sessions in lock step: reset them "
                                  "all together once every session has finished")
        if isinstance(seed, list):
            seed = seed[0] if seed else None
        shopper_rng, sim_rng, _ = np.random.default_rng(seed).spawn(3)
        self._rng = sim_rng
        self.sim.reset(self.num_envs, shopper_rng)
        return self._obs(), {}

    def step(self, actions: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray,
                                                 np.ndarray, dict[str, Any]]:
        """Show each running session its slate; finished sessions ignore theirs.

        Raises:
            RuntimeError: called before ``reset``.
            ConfigError: invalid actions of running sessions (quoted).

        """
        if self._rng is None:
            raise RuntimeError("ShopperVectorEnv.step called before reset()")
        live = ~self.sim.done
        res = self.sim.step(np.asarray(actions), self._rng)
        clicks, per_item = item_rewards(res, self.config.k)
        info = {
            "clicks": clicks, "_clicks": live.copy(),
            "item_rewards": per_item, "_item_rewards": live.copy(),
            "purchased": res.purchased.copy(), "_purchased": live.copy(),
            "purchase_value": np.where(res.purchased, res.price, 0.0),
            "_purchase_value": live.copy(),
        }
        return (self._obs(), res.rewards.astype(np.float64), res.terminated.copy(),
                res.truncated.copy(), info)
