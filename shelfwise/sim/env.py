"""Gymnasium single-session environment over the vectorised simulator."""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
import pandas as pd
from gymnasium import spaces

from shelfwise.sim.config import SimConfig
from shelfwise.sim.shoppers import QueryEncoder
from shelfwise.sim.vector_env import CandidateFn, SimBatch


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

    ``info`` after ``step``: ``clicked_position`` (int, -1 none), ``clicked_row`` (int, -1),
    ``clicked_product_id`` (str | None), ``purchased`` (bool), ``price`` (float, 0 without
    click), ``budget`` (float, remaining). After ``reset``: ``intent`` (query text or None),
    ``intent_category`` (str | None).

    Args:
        latent: latent table (``product_id, category, colour, material, pattern, style,
            price_band, brand, price``); row ``i`` ↔ ``product_vectors[i]``.
        product_vectors: ``(P, d)`` L2-normalised product vectors.
        config: simulator settings.
        query_encoder: text -> ``(m, d)``; encodes intent queries into the product space.
        candidate_fn: ``(state (d,), n) -> rows`` retrieval (e.g. FAISS); default exact top
            dot product plus random products.
        render_mode: only ``None`` is supported.

    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(
        self,
        latent: pd.DataFrame,
        product_vectors: np.ndarray,
        config: SimConfig | None = None,
        *,
        query_encoder: QueryEncoder | None = None,
        candidate_fn: CandidateFn | None = None,
        render_mode: str | None = None,
    ) -> None:
        self.sim = SimBatch(
            latent,
            product_vectors,
            config,
            query_encoder=query_encoder,
            candidate_fn=candidate_fn,
        )
        self.config = self.sim.config
        self.render_mode = render_mode
        cat = self.sim.catalog
        n, d = self.config.n_candidates, cat.dim
        self.observation_space = spaces.Dict(
            {
                "state": spaces.Box(-1.0, 1.0, shape=(d,), dtype=np.float32),
                "candidates": spaces.Box(-1.0, 1.0, shape=(n, d), dtype=np.float32),
                "candidate_ids": spaces.MultiDiscrete(
                    np.full(n, cat.n_products, dtype=np.int64), dtype=np.int64
                ),
            }
        )
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
        info = {
            "clicked_position": int(res.clicked_rank[0]),
            "clicked_row": row,
            "clicked_product_id": str(self.product_ids[row]) if row >= 0 else None,
            "purchased": bool(res.purchased[0]),
            "price": float(res.price[0]),
            "budget": float(self.sim.budget[0]),
        }
        return self._obs(), float(res.rewards[0]), terminated, truncated, info
