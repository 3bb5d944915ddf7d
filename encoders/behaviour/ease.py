"""EASE: an item-item linear model in closed form.

Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019.

With the user-item matrix ``X`` (n_users, n_items) and ``P = (X'X + lambda I)^-1``, the
weights are ``B = I - P / diag(P)`` (each column ``j`` divided by ``P_jj``) with the diagonal
forced to 0, and a shopper with history row ``x`` scores ``x B``. One dense
``(n_items, n_items)`` solve: seconds at a few thousand items, minutes at 20,000 (see
:data:`encoders.behaviour.base.EASE_MAX_ITEMS`); above that use ALS.
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
    progress_steps,
)
from encoders.errors import ConfigError, EncoderError


@dataclass
class EASEConfig(BehaviourConfig):
    """Hyperparameters of :class:`EASEModel`."""

    l2: float = 300.0
    """Ridge penalty ``lambda`` on the diagonal of ``X'X``. Steck reports best values from a
    few hundred (MovieLens-20M: 500) to a few thousand on larger, denser data; bigger values
    favour popular items less. 300 suits logs of ~100k events (MovieLens-100k)."""
    weighted: bool = False
    """Fit on summed event weights (purchase > click > view) instead of a 0/1 matrix. The
    paper uses 0/1; weights help when event kinds differ in intent."""

    def validate(self) -> None:  # noqa: D102
        check_number(self, "l2", low=0.0, low_open=True)
        if not isinstance(self.weighted, bool):
            raise ConfigError(f"weighted must be a bool, got {self.weighted!r}")


class EASEModel(BaseBehaviourModel):
    """EASE item-item model; ``score`` is ``x B`` for the 0/1 history row ``x``.

    Items without events get an all-zero column and row of ``B`` (scored 0 unless
    :func:`encoders.behaviour.with_content` gives them content-based scores).
    """

    name = "ease"
    config_cls = EASEConfig

    def __init__(self, config: EASEConfig | None = None, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self.B: np.ndarray | None = None  # float32 (n_items, n_items)

    def _fit(self, data: Interactions, *, progress: bool) -> None:
        cfg: EASEConfig = self.config  # type: ignore[assignment]
        n = data.n_items
        bar = progress_steps(progress, 3, f"EASE on {n} items")
        X = data.csr(binary=not cfg.weighted).astype(np.float64)
        G = (X.T @ X).toarray()
        G[np.diag_indices(n)] += cfg.l2
        bar.update(1)
        try:
            P = np.linalg.inv(G)
        except np.linalg.LinAlgError as exc:  # pragma: no cover - G + l2 I is SPD
            raise EncoderError(f"EASE: X'X + {cfg.l2} I is singular: {exc}") from exc
        bar.update(1)
        B = P / (-np.diag(P))[None, :]
        B[np.diag_indices(n)] = 0.0
        self.B = B.astype(np.float32)
        bar.update(1)
        bar.close()

    def _score(self, histories: list[np.ndarray]) -> np.ndarray:
        X = history_matrix(histories, self.n_items)
        return np.asarray(X @ self.B, dtype=np.float32)  # type: ignore[operator]

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"B": self.B}  # type: ignore[dict-item]

    def _restore(self, arrays: dict[str, np.ndarray], meta: dict[str, Any], folder: Path) -> None:
        self.B = check_array(arrays, "B", (self.n_items, self.n_items), folder).astype(
            np.float32)
