"""ALS matrix factorisation for implicit feedback, via the ``implicit`` package.

Hu, Koren & Volinsky, "Collaborative Filtering for Implicit Feedback Datasets" (ICDM 2008),
as implemented by :class:`implicit.cpu.als.AlternatingLeastSquares` (conjugate-gradient
solver, native code). Memory grows with ``(n_users + n_items) * factors``, so it covers
catalogs too large for EASE's dense ``(n_items, n_items)`` matrix
(:func:`encoders.behaviour.choose_item_model`).

A history is scored by solving its user factor exactly against the learned item factors
(implicit's ``recalculate_user``, a regularised least-squares solve), so shoppers unseen in
training and histories that changed since are scored without refitting.

Threads: implicit warns (and runs up to 10x slower) when OpenBLAS also runs a thread pool,
so fitting and scoring run under ``threadpoolctl.threadpool_limits(1, "blas")`` and use
``num_threads`` native threads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from encoders.behaviour.base import (
    BaseBehaviourModel,
    BehaviourConfig,
    Interactions,
    check_array,
    check_number,
    history_matrix,
)
from encoders.errors import ConfigError, EncoderError

_INSTALL = "pip install 'implicit>=0.7'"


@dataclass
class ALSConfig(BehaviourConfig):
    """Hyperparameters of :class:`ALSModel`."""

    factors: int = 64
    """Latent dimensions of item and user vectors."""
    regularization: float = 0.05
    """L2 penalty on the factors (implicit's ``regularization``)."""
    alpha: float = 10.0
    """Confidence scale: an observed cell has confidence ``1 + alpha * weight`` (implicit
    multiplies the matrix by ``alpha``). Larger values trust observed events more."""
    iterations: int = 15
    """ALS sweeps (users then items)."""
    weighted: bool = False
    """Use summed event weights as the matrix values instead of 0/1."""
    num_threads: int = 2
    """Native threads of implicit's solver (0 = all cores; keep small on shared machines)."""
    seed: int = 0
    """Seed of the initial factors (implicit's ``random_state``)."""

    def validate(self) -> None:  # noqa: D102
        check_number(self, "factors", low=1, integer=True)
        check_number(self, "iterations", low=1, integer=True)
        check_number(self, "num_threads", low=0, integer=True)
        check_number(self, "seed", low=0, integer=True)
        check_number(self, "regularization", low=0.0)
        check_number(self, "alpha", low=0.0, low_open=True)
        if not isinstance(self.weighted, bool):
            raise ConfigError(f"weighted must be a bool, got {self.weighted!r}")


class ALSModel(BaseBehaviourModel):
    """Implicit-feedback ALS; ``score = u . v`` with ``u`` solved from the history.

    ``item_vectors`` are the item factors ``(n_items, factors)``; items without events keep
    their small random initial factors and score near 0.
    """

    name = "als"
    config_cls = ALSConfig

    def __init__(self, config: ALSConfig | None = None, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self._als: Any = None

    def _new_als(self) -> Any:
        try:
            from implicit.cpu.als import AlternatingLeastSquares
            from threadpoolctl import threadpool_limits
        except ImportError as exc:  # pragma: no cover - a declared dependency
            raise EncoderError(f"the ALS model needs the implicit package ({_INSTALL})") from exc
        cfg: ALSConfig = self.config  # type: ignore[assignment]
        with threadpool_limits(1, "blas"):
            return AlternatingLeastSquares(
                factors=cfg.factors, regularization=cfg.regularization, alpha=cfg.alpha,
                iterations=cfg.iterations, num_threads=cfg.num_threads,
                random_state=cfg.seed, dtype=np.float32)

    def _fit(self, data: Interactions, *, progress: bool) -> None:
        from threadpoolctl import threadpool_limits

        cfg: ALSConfig = self.config  # type: ignore[assignment]
        als = self._new_als()
        with threadpool_limits(1, "blas"):
            als.fit(data.csr(binary=not cfg.weighted), show_progress=progress)
        self._als = als

    def _user_factors(self, histories: list[np.ndarray]) -> np.ndarray:
        from threadpoolctl import threadpool_limits

        X = history_matrix(histories, self.n_items)
        with threadpool_limits(1, "blas"):
            u = self._als.recalculate_user(np.arange(len(histories)), X)
        return np.asarray(u, np.float32).reshape(len(histories), -1)

    def _score(self, histories: list[np.ndarray]) -> np.ndarray:
        return self._user_factors(histories) @ self.item_vectors().T

    def item_vectors(self) -> np.ndarray:
        """Item factors ``(n_items, factors)`` float32."""
        self._require_fitted()
        return np.asarray(self._als.item_factors, np.float32)

    def user_vectors(self, histories: Any) -> np.ndarray:
        """User factors solved from each history, ``(len(histories), factors)`` float32.

        An empty history gets zeros.
        """
        hs = self.check_histories(histories)
        if not hs:
            return np.zeros((0, self.config.factors), np.float32)  # type: ignore[attr-defined]
        return self._user_factors(hs)

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"item_factors": self.item_vectors()}

    def _restore(self, arrays: dict[str, np.ndarray], meta: dict[str, Any], folder: Path) -> None:
        cfg: ALSConfig = self.config  # type: ignore[assignment]
        factors = check_array(arrays, "item_factors", (self.n_items, cfg.factors), folder)
        als = self._new_als()
        als.item_factors = factors.astype(np.float32)
        self._als = als
