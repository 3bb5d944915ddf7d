"""The most-popular baseline: every shopper gets the same list, ordered by training events.

It follows the behaviour-model protocol (:class:`encoders.behaviour.BaseBehaviourModel`), so the
offline evaluator treats it like any other model; it is not in the behaviour registry (nothing
in production serves it as a model; popularity is a candidate source there).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from encoders.behaviour.base import (
    BaseBehaviourModel,
    BehaviourConfig,
    Interactions,
    check_array,
)

__all__ = ["MostPopular", "MostPopularConfig"]


@dataclass
class MostPopularConfig(BehaviourConfig):
    """Most-popular has no hyperparameters."""


class MostPopular(BaseBehaviourModel):
    """Score of an item = its number of training events (rows), the same for every shopper.

    On a deduplicated log (as the offline splits produce) that is the number of distinct
    shoppers who interacted with the item.
    """

    name: ClassVar[str] = "mostpop"
    config_cls: ClassVar[type[BehaviourConfig]] = MostPopularConfig

    def __init__(self, config: MostPopularConfig | None = None, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self.counts: np.ndarray | None = None

    def _fit(self, data: Interactions, *, progress: bool) -> None:
        self.counts = np.bincount(data.item, minlength=data.n_items).astype(np.float32)

    def _score(self, histories: list[np.ndarray]) -> np.ndarray:
        if self.counts is None:  # pragma: no cover - fit() or load() always sets it
            raise RuntimeError("MostPopular has no counts")
        return np.broadcast_to(self.counts, (len(histories), self.counts.shape[0])).copy()

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"counts": np.asarray(self.counts, np.float32)}

    def _restore(self, arrays: dict[str, np.ndarray], meta: dict[str, Any], folder: Path) -> None:
        self.counts = check_array(arrays, "counts", (self.n_items,), folder).astype(np.float32)
